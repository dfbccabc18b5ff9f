// Watcher results as Allure results, next to the suites' and lifecycle steps' results: one per
// watcher, machine and phase; each finding a step, its evidence (new log signatures with sample
// lines, baseline-vs-phase charts) attached. Failed = a finding rejects (the patch's fault),
// broken = the watcher could not observe (the lab's), passed otherwise (non-rejecting findings
// stay visible as steps).
import type { Attachment as AllureAttachment } from "../report/attachments.ts";
import { KIND_LABEL, stageTitle } from "../report/labels.ts";
import { writeAllureResult } from "../report/lifecycle.ts";
import type { CheckResult } from "./evidence.ts";

export interface WatchAllureMeta {
  patch?: string;
  runId?: string;
  lab?: string;
  start: number;
  stop: number;
  labels?: Record<string, string>;
}

const EXT: Record<string, string> = { "text/plain": ".txt", "image/svg+xml": ".svg", "application/json": ".json" };

/** Pure: the attachments of a watcher result (every finding's evidence, prefixed with its title). */
export function watchAttachments(r: CheckResult): AllureAttachment[] {
  return r.findings.flatMap((f) =>
    f.evidence.map((e) => ({
      name: `${f.title}: ${e.name}`,
      contentType: e.contentType,
      content: Buffer.from(e.body, "utf8"),
      fileExtension: EXT[e.contentType] ?? ".txt",
    })),
  );
}

export function watchStatus(r: CheckResult): "passed" | "failed" | "broken" {
  return r.error ? "broken" : r.findings.some((f) => f.rejects) ? "failed" : "passed";
}

/** Writes one Allure result for a watcher's result; returns its uuid. */
export function writeWatchAllure(resultsDir: string, r: CheckResult, meta: WatchAllureMeta): string {
  const rejecting = r.findings.filter((f) => f.rejects);
  const message = r.error
    ? `could not observe: ${r.error}`
    : rejecting.length
      ? rejecting.map((f) => `${f.title}: ${f.message}`).join("\n")
      : r.findings.length
        ? `${r.findings.length} non-rejecting finding(s)`
        : undefined;
  return writeAllureResult(resultsDir, {
    name: `watch ${r.name} (${r.phase})`,
    fullName: `patchlab:watch: ${r.name} > ${r.phase}`,
    status: watchStatus(r),
    ...(message ? { message } : {}),
    start: meta.start,
    stop: meta.stop,
    labels: {
      parentSuite: meta.patch ?? "lab",
      suite: stageTitle(r.phase),
      subSuite: r.machine,
      feature: meta.patch ?? "lab",
      story: stageTitle(r.phase),
      phase: r.phase,
      machine: r.machine,
      host: r.machine,
      [KIND_LABEL]: "watch",
      ...(meta.patch ? { patch: meta.patch } : {}),
      ...(meta.runId ? { run: meta.runId } : {}),
      ...(meta.lab ? { lab: meta.lab } : {}),
      ...meta.labels,
    },
    parameters: { phase: r.phase, machine: r.machine, watcher: r.name, ...(meta.patch ? { patch: meta.patch } : {}) },
    ...(r.note ? { description: `Observed: ${r.note}` } : {}),
    steps: r.findings.map((f) => ({ name: `${f.severity}${f.rejects ? " (rejects)" : ""}: ${f.title}`, status: f.rejects ? "failed" : "passed", message: f.message })),
    attachments: watchAttachments(r),
  });
}
