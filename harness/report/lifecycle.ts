// Install, uninstall, restore... recorded as Allure results next to the suites' results, so the
// report shows the whole story of a machine (and its timeline), not only the checks.
import { Stage, type Status } from "allure-js-commons";
import { FileSystemWriter, ReporterRuntime } from "allure-js-commons/sdk/reporter";
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
  /** Installer output or a stack, shown under the message. */
  output?: string;
  /** Epoch ms. */
  start: number;
  stop: number;
  runId?: string;
  lab?: string;
  labels?: Record<string, string>;
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
  return writeAllureResult(resultsDir, {
    name,
    // With the parameters below this gives a historyId that is stable across runs.
    fullName: `patchlab:lifecycle: ${phase} > ${name}`,
    status: s.status,
    ...(s.message ? { message: s.message } : {}),
    ...(s.output ? { trace: s.output } : {}),
    start: s.start,
    stop: s.stop,
    labels: {
      parentSuite: phase,
      suite: "lifecycle",
      subSuite: s.machine,
      feature: "lifecycle",
      phase,
      machine: s.machine,
      host: s.machine,
      ...(s.patch ? { patch: s.patch } : {}),
      ...(s.runId ? { run: s.runId } : {}),
      ...(s.lab ? { lab: s.lab } : {}),
      ...s.labels,
    },
    parameters: { phase, machine: s.machine, ...(s.patch ? { patch: s.patch } : {}) },
  });
}

export interface AllureResultInput {
  name: string;
  /** With `parameters`, determines the historyId: keep it stable across runs. */
  fullName: string;
  status: TestStatus;
  message?: string;
  trace?: string;
  start: number;
  stop: number;
  labels: Record<string, string>;
  parameters: Record<string, string>;
}

/** One finished Allure 2 result (uuid, historyId, labels...), written with allure-js-commons' own writer. */
export function writeAllureResult(resultsDir: string, r: AllureResultInput): string {
  const runtime = new ReporterRuntime({ writer: new FileSystemWriter({ resultsDir }) });
  const uuid = runtime.startTest({
    name: r.name,
    fullName: r.fullName,
    stage: Stage.FINISHED,
    labels: Object.entries(r.labels).map(([name, value]) => ({ name, value })),
    parameters: Object.entries(r.parameters).map(([name, value]) => ({ name, value })),
  });
  runtime.updateTest(uuid, (t) => {
    t.start = r.start;
    t.status = r.status as Status;
    t.statusDetails = { ...(r.message ? { message: r.message } : {}), ...(r.trace ? { trace: r.trace } : {}) };
  });
  runtime.stopTest(uuid, { stop: r.stop });
  runtime.writeTest(uuid);
  return uuid;
}
