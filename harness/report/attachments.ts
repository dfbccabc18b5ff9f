// Evidence attached to Allure results: installer output, fingerprint diffs, log samples,
// screenshots. Bounded, because a runaway log must not make a report nobody can open.
import type { FingerprintDiff } from "../lab/fingerprint.ts";

export interface Attachment {
  name: string;
  contentType: string;
  content: Buffer;
  fileExtension?: string;
}

/** Keeps the end of long text (where an installer's error is) and says how much was cut. */
export const MAX_TEXT_BYTES = 256 * 1024;

export function textAttachment(name: string, text: string, maxBytes = MAX_TEXT_BYTES): Attachment {
  let body = Buffer.from(text, "utf8");
  if (body.length > maxBytes) {
    const cut = body.length - maxBytes;
    body = Buffer.concat([Buffer.from(`[... first ${cut} bytes cut ...]\n`), body.subarray(cut)]);
  }
  return { name, contentType: "text/plain", content: body, fileExtension: ".txt" };
}

/** A sample of a machine's log (e.g. the lines around a failing check), as text. */
export function logSampleAttachment(source: string, lines: string[], maxLines = 200): Attachment {
  const kept = lines.length > maxLines ? [`[... ${lines.length - maxLines} earlier lines cut ...]`, ...lines.slice(-maxLines)] : lines;
  return textAttachment(`log sample: ${source}`, kept.join("\n") + "\n");
}

/** What differs between the fingerprint before the run and after a restore, one line each. */
export function fingerprintDiffAttachment(diff: Pick<FingerprintDiff, "differences">, name = "fingerprint diff"): Attachment {
  const text = diff.differences.length ? diff.differences.join("\n") + "\n" : "(no difference)\n";
  return { ...textAttachment(name, text), contentType: "text/plain", fileExtension: ".diff" };
}

export function pngAttachment(name: string, png: Buffer): Attachment {
  return { name, contentType: "image/png", content: png, fileExtension: ".png" };
}

export function jsonAttachment(name: string, value: unknown): Attachment {
  return { name, contentType: "application/json", content: Buffer.from(JSON.stringify(value, null, 2) + "\n"), fileExtension: ".json" };
}
