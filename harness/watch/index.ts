// The watchers together: what the run's pipeline, the soak and `patchlab watch` call.
//   const checks = watchChecks(policy);
//   const base = await watchBaseline(checks, ctx("baseline", suitesRunning));   // during the baseline suites
//   ... install ...
//   const results = await watchPhase(checks, ctx("post-install", suitesRunning), base.baselines);
//   evidence.push(...results.map(toWatchEvidence)); say(summaryText(results));
import type Docker from "dockerode";
import type { Logger } from "../core/log.ts";
import type { LabPki } from "../lab/roles/types.ts";
import type { Connection, MachineHandle } from "../lab/types.ts";
import { counterCheck } from "./counters.ts";
import { dockerEngineProbe } from "./engine.ts";
import { latencyCheck } from "./latency.ts";
import { logCheck } from "./logs.ts";
import type { WatchPolicy } from "./policy.ts";
import type { WatchContext, WatchWindow, Watcher } from "./types.ts";

export { toWatchEvidence, summaryText, type CheckResult } from "./evidence.ts";
export { writeWatchAllure, watchAttachments, type WatchAllureMeta } from "./allure.ts";
export { latencyFindings } from "./latency.ts";
export { watchBaseline, watchPhase, type BaselineResult } from "./phase.ts";
export { runSoak, type SoakInput, type SoakResult } from "./soak.ts";
export { defaultWatchPolicy, loadWatchPolicy, WatchPolicy } from "./policy.ts";
export type { Attachment, Baseline, Check, Finding, WatchContext, WatchWindow } from "./types.ts";

/** The standard watchers: logs, counters, probe latency. */
export function watchChecks(policy: WatchPolicy, pki?: LabPki): Watcher[] {
  return [logCheck(policy), counterCheck(policy), latencyCheck(policy, pki)] as unknown as Watcher[];
}

/** The window the policy prescribes (every phase alike), optionally stretched to cover `during`. */
export function policyWindow(policy: WatchPolicy, extra: Partial<WatchWindow> = {}): WatchWindow {
  return { ms: policy.window.seconds * 1000, sampleMs: policy.window.sampleSeconds * 1000, ...extra };
}

/** A watch context for a machine of a Docker lab (engine stats and logs through dockerode). */
export function dockerWatchContext(docker: Docker, m: MachineHandle, conn: Connection, window: WatchWindow, phase: string, log: Logger): WatchContext {
  return { machine: m, conn, engine: dockerEngineProbe(docker, m.container, m.spec.name), window, log, phase };
}

