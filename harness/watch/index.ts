// The watchers together: what the run's pipeline, the soak and `patchlab watch` call.
//   const w = machineWatch({ machine, conn, engine: dockerEngineProbe(docker, machine.container, name), policy, log });
//   const [, base] = await Promise.all([baselineSuites, w.baseline(baselineSuites)]);   // window covers the suites
//   ... install ...
//   const [, results] = await Promise.all([postSuites, w.phase("post-install", base.baselines, postSuites)]);
//   const soak = await w.soak(base.baselines, { reference: postInstallOutcomes, runLimitedSuites });
//   evidence.push(...[...results, ...soak.results].map(toWatchEvidence)); say(summaryText(results));
//   for (const r of results) writeWatchAllure(resultsDir, r, { patch, runId, lab, start, stop });
import type Docker from "dockerode";
import type { Logger } from "../core/log.ts";
import type { LabPki } from "../lab/roles/types.ts";
import type { Connection, MachineHandle } from "../lab/types.ts";
import type { GatePhase } from "../gate/schema.ts";
import type { TestOutcome } from "../report/outcome-model.ts";
import { counterCheck } from "./counters.ts";
import { dockerEngineProbe } from "./engine.ts";
import { latencyCheck } from "./latency.ts";
import { logCheck } from "./logs.ts";
import type { WatchPolicy } from "./policy.ts";
import type { Baseline, Check, EngineProbe, WatchContext, WatchWindow, Watcher } from "./types.ts";
import { watchBaseline, watchPhase, type BaselineResult } from "./phase.ts";
import { runSoak, type SoakInput, type SoakResult } from "./soak.ts";
import type { CheckResult } from "./evidence.ts";

export { toWatchEvidence, summaryText, type CheckResult } from "./evidence.ts";
export { writeWatchAllure, watchAttachments, type WatchAllureMeta } from "./allure.ts";
export { latencyFindings } from "./latency.ts";
export { dockerEngineProbe } from "./engine.ts";
export { watchBaseline, watchPhase, type BaselineResult, runSoak, type SoakInput, type SoakResult };
export { defaultWatchPolicy, loadWatchPolicy, WatchPolicy } from "./policy.ts";
export type { Attachment, Baseline, Check, Finding, WatchContext, WatchWindow } from "./types.ts";

/** The standard watchers: logs, counters, probe latency. */
export function watchChecks(policy: WatchPolicy, pki?: LabPki): Watcher[] {
  // Each is a Watcher of its own observation type; the runner hands each its own baseline back.
  return [logCheck(policy), counterCheck(policy), latencyCheck(policy, pki)] as unknown as Watcher[];
}

export interface MachineWatchOptions {
  machine: MachineHandle;
  conn: Connection;
  /** The engine's view (Docker: dockerEngineProbe); none for drivers without one. */
  engine?: EngineProbe;
  policy: WatchPolicy;
  log: Logger;
  pki?: LabPki;
  /** Default: watchChecks(policy, pki). */
  checks?: Check[];
}

export interface MachineWatch {
  checks: Check[];
  /** Observe the baseline phase (the window also covers `during`, the baseline suites). */
  baseline(during?: Promise<unknown>): Promise<BaselineResult>;
  /** Observe a later phase for the same window and compare. */
  phase(phase: GatePhase, baselines: Record<string, Baseline>, during?: Promise<unknown>): Promise<CheckResult[]>;
  /** The soak after install: watcher slices of the baseline's window and re-runs of the limited suites. */
  soak(baselines: Record<string, Baseline>, o?: Pick<SoakInput, "reference" | "runLimitedSuites" | "onFinding" | "signal" | "durationMs" | "suiteIntervalMs">): Promise<SoakResult>;
}

/** One machine's watchers with the policy's window: what the run's pipeline calls. */
export function machineWatch(o: MachineWatchOptions): MachineWatch {
  const checks = o.checks ?? watchChecks(o.policy, o.pki);
  const ctx = (phase: string, during?: Promise<unknown>): WatchContext => ({
    machine: o.machine,
    conn: o.conn,
    ...(o.engine ? { engine: o.engine } : {}),
    window: policyWindow(o.policy, during ? { during } : {}),
    log: o.log,
    phase,
  });
  return {
    checks,
    baseline: (during) => watchBaseline(checks, ctx("baseline", during)),
    phase: (phase, baselines, during) => watchPhase(checks, ctx(phase, during), baselines),
    soak: (baselines, s = {}) => runSoak({ checks, baselines, ctx: ctx("soak"), policy: o.policy, ...s }),
  };
}

export type { TestOutcome };

/** The window the policy prescribes (every phase alike), optionally stretched to cover `during`. */
export function policyWindow(policy: WatchPolicy, extra: Partial<WatchWindow> = {}): WatchWindow {
  return { ms: policy.window.seconds * 1000, sampleMs: policy.window.sampleSeconds * 1000, ...extra };
}

/** A watch context for a machine of a Docker lab (engine stats and logs through dockerode). */
export function dockerWatchContext(docker: Docker, m: MachineHandle, conn: Connection, window: WatchWindow, phase: string, log: Logger): WatchContext {
  return { machine: m, conn, engine: dockerEngineProbe(docker, m.container, m.spec.name), window, log, phase };
}

