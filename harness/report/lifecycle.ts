// Install, uninstall, restore... recorded as Allure results next to the suites' results, so the
// report shows the whole story of a machine (and its timeline), not only the checks. Long
// evidence (installer output, fingerprint diffs, log samples) goes in attachments: a reviewer
// reads the message, then opens what they need; nothing is buried in a stack trace.
import { Stage, type Status } from "allure-js-commons";
import { FileSystemWriter, ReporterRuntime } from "allure-js-commons/sdk/reporter";
import { textAttachment, type Attachment } from "./attachments.ts";
import { KIND_LABEL, mergeLabels, stageTitle, type AllureLink, type ResultMeta } from "./labels.ts";
import type { TestStatus } from "./outcome-model.ts";

interface StepFields {
  /** What a person reads; default "<phase> <patch>", e.g. "install nginx-1.22.1-9+deb12u2". */
  name?: string;
  /** Absent for per-machine steps such as restore. */
  patch?: string;
  machine: string;
  /** failed = the patch misbehaved (PatchError); broken = the lab did (LabError). */
  status: TestStatus;
  message?: string;
  /** Installer output: attached as "<phase> output" (text). */
  output?: string;
  /** More evidence: fingerprint diff, log samples, screenshots (see attachments.ts). */
  attachments?: Attachment[];
  /** Epoch ms. */
  start: number;
  stop: number;
  runId?: string;
  lab?: string;
  /** Override the defaults (e.g. from runLabels()). */
  labels?: Record<string, string>;
  /** Repeated labels and links (from runLabels()). */
  meta?: ResultMeta;
}

/**
 * One lifecycle step. Its kind ("install", "uninstall", "restore", "restart"...) is `phase`;
 * `step` is accepted as well so the orchestrator's step records can be passed as they are.
 */
export type LifecycleStep = StepFields & ({ phase: string; step?: never } | { step: string; phase?: never });

/** Writes one result file for the step; returns its uuid. */
export function writeLifecycleResult(resultsDir: string, s: LifecycleStep): string {
  const phase = s.phase ?? s.step!;
  const name = s.name ?? `${phase}${s.patch ? ` ${s.patch}` : ""}`;
  const attachments = [...(s.output ? [textAttachment(`${phase} output`, s.output)] : []), ...(s.attachments ?? [])];
  return writeAllureResult(resultsDir, {
    name,
    // With the parameters below this gives a historyId that is stable across runs.
    fullName: `patchlab:lifecycle: ${phase} > ${name}`,
    status: s.status,
    ...(s.message ? { message: s.message } : {}),
    start: s.start,
    stop: s.stop,
    labels: {
      parentSuite: s.patch ?? "lab",
      suite: stageTitle(phase),
      subSuite: s.machine,
      feature: s.patch ?? "lab",
      story: stageTitle(phase),
      phase,
      machine: s.machine,
      host: s.machine,
      [KIND_LABEL]: "step",
      ...(s.patch ? { patch: s.patch } : {}),
      ...(s.runId ? { run: s.runId } : {}),
      ...(s.lab ? { lab: s.lab } : {}),
      ...s.labels,
    },
    ...(s.meta ? { meta: s.meta } : {}),
    parameters: { phase, machine: s.machine, ...(s.patch ? { patch: s.patch } : {}) },
    attachments,
  });
}

export interface AllureStep {
  name: string;
  status: TestStatus;
  message?: string;
}

export interface AllureResultInput {
  name: string;
  /** With `parameters`, determines the historyId: keep it stable across runs. */
  fullName: string;
  status: TestStatus;
  message?: string;
  /** A real stack trace only; evidence belongs in attachments. */
  trace?: string;
  start: number;
  stop: number;
  labels: Record<string, string>;
  /** Repeated labels (replacing same-name entries of `labels`) and links. */
  meta?: ResultMeta;
  links?: AllureLink[];
  parameters: Record<string, string>;
  /** Markdown shown above the execution (Allure renders it). */
  description?: string;
  /** Shown as the result's steps, in order. */
  steps?: AllureStep[];
  attachments?: Attachment[];
  /** Allure's "flaky" mark (e.g. passed on retry). */
  flaky?: boolean;
}

/** One finished Allure 2 result (uuid, historyId, labels...), written with allure-js-commons' own writer. */
export function writeAllureResult(resultsDir: string, r: AllureResultInput): string {
  const runtime = new ReporterRuntime({ writer: new FileSystemWriter({ resultsDir }) });
  const uuid = runtime.startTest({
    name: r.name,
    fullName: r.fullName,
    stage: Stage.FINISHED,
    labels: mergeLabels(r.labels, r.meta),
    links: dedupeLinks([...(r.links ?? []), ...(r.meta?.links ?? [])]),
    parameters: Object.entries(r.parameters).map(([name, value]) => ({ name, value })),
    ...(r.description ? { description: r.description } : {}),
  });
  runtime.updateTest(uuid, (t) => {
    t.start = r.start;
    t.status = r.status as Status;
    t.statusDetails = {
      ...(r.message ? { message: r.message } : {}),
      ...(r.trace ? { trace: r.trace } : {}),
      ...(r.flaky ? { flaky: true } : {}),
    };
  });
  for (const s of r.steps ?? []) {
    const step = runtime.startStep(uuid, undefined, { name: s.name, start: r.start });
    if (!step) continue;
    runtime.updateStep(step, (x) => {
      x.status = s.status as Status;
      x.stage = Stage.FINISHED;
      if (s.message) x.statusDetails = { message: s.message };
    });
    runtime.stopStep(step, { stop: r.stop });
  }
  for (const a of r.attachments ?? []) {
    runtime.writeAttachment(uuid, undefined, a.name, a.content, { contentType: a.contentType, ...(a.fileExtension ? { fileExtension: a.fileExtension } : {}), timestamp: r.stop });
  }
  runtime.stopTest(uuid, { stop: r.stop });
  runtime.writeTest(uuid);
  return uuid;
}

function dedupeLinks(links: AllureLink[]): AllureLink[] {
  return links.filter((l, i) => links.findIndex((x) => x.url === l.url) === i);
}
