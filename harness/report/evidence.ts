// For suites (inside the suite process): attach evidence to the running check, so a reviewer
// finds the HTTP response, the service's log lines or a screenshot under the failed check in
// the report, instead of a message cut to one line.
import { attachment } from "allure-js-commons";
import { logSampleAttachment, textAttachment, type Attachment } from "./attachments.ts";

async function attach(a: Attachment): Promise<void> {
  await attachment(a.name, a.content, { contentType: a.contentType, ...(a.fileExtension ? { fileExtension: a.fileExtension } : {}) });
}

/** Text evidence (an HTTP response, a command's output), bounded. */
export function attachText(name: string, text: string): Promise<void> {
  return attach(textAttachment(name, text));
}

/** A sample of a machine's log, e.g. the last lines of nginx's error.log after a failed request. */
export function attachLogSample(source: string, lines: string[]): Promise<void> {
  return attach(logSampleAttachment(source, lines));
}

export function attachScreenshot(name: string, png: Buffer): Promise<void> {
  return attach({ name, contentType: "image/png", content: png, fileExtension: ".png" });
}
