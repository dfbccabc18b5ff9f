// The install and uninstall checks: the provisioner's step (exit code, duration, output kept),
// detection asked for real (isInstalled), disk used (watched files plus the uninstall backup),
// and services: every service that ran before still runs and the machine's roles are ready.
// A service that is down is the patch's failure only when the lab itself is healthy.
import { asPatchlabError, LabError } from "../core/errors.ts";
import { readyOrGiveUp, stoppedServicesEvidence, type GiveUpOptions } from "../readiness/give-up.ts";
import { diffStates, machineState, renderDiff, type MachineState, type StateOptions } from "../lab/state.ts";
import type { Connection } from "../lab/types.ts";
import { text, type Attachment, type CheckStatus, type LifecycleCheck } from "./check-result.ts";
import type { PatchArtifact, PatchProvisioner, StepOutcome } from "./types.ts";

export interface StepCheck extends LifecycleCheck {
  /** The provisioner's own outcome (undefined when it threw: a lab error). */
  outcome?: StepOutcome;
  exitCode?: number;
  timedOut?: boolean;
  /** What detection said after the step (undefined when not asked). */
  detected?: boolean;
  /** Bytes of watched files the step added (negative: freed). */
  diskDeltaBytes?: number;
  /** Size of the uninstall backup the step kept. */
  backupBytes?: number;
  /** diskDeltaBytes plus the uninstall backup: what the patch costs in disk. */
  diskUsedBytes?: number;
  /** Services that ran before the step and do not after it. */
  stoppedServices?: string[];
  /** State after the step (the next check's "before"). */
  after?: MachineState;
}

export interface StepCheckOptions {
  /** State before the step; taken when absent. */
  before?: MachineState;
  state?: StateOptions;
  /** Wait until the machine's roles are ready (Connection.waitUntilReady); skipped when absent. */
  ready?: (deadline: number) => Promise<void>;
  /** Deadline (epoch ms) for readiness. */
  deadline?: number;
  /** Whether the lab itself is healthy, for judging a service that is down (default: assume healthy). */
  labHealthy?: () => Promise<boolean>;
  /** Check services and readiness after the step (default true; false when a declared restart comes next). */
  checkServices?: boolean;
  /** When the readiness wait may end early because a stopped service is not coming back (readiness/give-up.ts). */
  giveUp?: GiveUpOptions;
}

export function installCheck(conn: Connection, p: PatchProvisioner, a: PatchArtifact, opts: StepCheckOptions = {}): Promise<StepCheck> {
  return stepCheck("install", conn, p, a, opts);
}

export function uninstallCheck(conn: Connection, p: PatchProvisioner, a: PatchArtifact, opts: StepCheckOptions = {}): Promise<StepCheck> {
  return stepCheck("uninstall", conn, p, a, opts);
}

async function stepCheck(step: "install" | "uninstall", conn: Connection, p: PatchProvisioner, a: PatchArtifact, opts: StepCheckOptions): Promise<StepCheck> {
  const started = Date.now();
  const attachments: Attachment[] = [];
  const result = (status: CheckStatus, message: string, extra: Partial<StepCheck> = {}): StepCheck => ({ name: step, status, message, durationMs: Date.now() - started, attachments, ...extra });
  let before: MachineState;
  let outcome: StepOutcome;
  try {
    before = opts.before ?? (await machineState(conn, opts.state));
    // The state after is taken the way the one before was, so they compare like for like.
    // Files unchanged since (same inode, ctime, size) are not hashed again.
    opts = { ...opts, state: { volatile: before.volatile, ...opts.state, since: before } };
    outcome = step === "install" ? await p.install(conn, a) : await p.uninstall(conn, a);
  } catch (e) {
    // The provisioner could not run the step (engine, transport, unreadable exit code): the lab's failure.
    return result("broken", `${step} of ${a.patch.id} could not be run: ${asPatchlabError(e).message}`);
  }
  attachments.push(text(`${step} output (${a.patch.id} on ${conn.machine})`, outcome.output || "(the installer printed nothing)"));
  const facts = {
    outcome,
    ...(outcome.exitCode !== undefined ? { exitCode: outcome.exitCode } : {}),
    ...(outcome.timedOut ? { timedOut: true } : {}),
    ...(outcome.backupBytes !== undefined ? { backupBytes: outcome.backupBytes } : {}),
  };
  if (!outcome.ok) {
    const status = outcome.blame === "harness" ? "broken" : "failed";
    return result(status, outcome.message, facts);
  }
  try {
    // Detection and the state after are independent reads: taken at once, one exec round trip less.
    const afterState = machineState(conn, opts.state);
    afterState.catch(() => undefined); // judged below, after detection
    const detected = await p.isInstalled(conn, a);
    const want = step === "install";
    if (detected !== want) {
      return result("failed", `${step} of ${a.patch.id} reported success but detection says it is ${detected ? "still installed" : "not installed"}`, { ...facts, detected });
    }
    const after = await afterState;
    const diff = diffStates(before, after);
    attachments.push(text(`state changes of ${step} (${a.patch.id} on ${conn.machine})`, renderDiff(diff, { before: `before ${step}`, after: `after ${step}` })));
    const diskDeltaBytes = diff.bytesDelta;
    const diskUsedBytes = diskDeltaBytes + (step === "install" ? (outcome.backupBytes ?? 0) : 0);
    const measured = { ...facts, detected, after, diskDeltaBytes, diskUsedBytes };
    if (opts.checkServices === false) return result("passed", `${outcome.message}; detection agrees${diskNote(step, measured)}`, measured);
    const stoppedServices = Object.entries(before.services).filter(([s, st]) => st === "running" && after.services[s] !== "running").map(([s]) => s);
    const problems: string[] = [];
    if (stoppedServices.length) problems.push(`service(s) ${stoppedServices.join(", ")} ran before the ${step} and do not after it`);
    if (opts.ready) {
      try {
        // A service the state after the step found stopped (no supervisor restarts it) is watched:
        // still stopped with nothing new listening, poll after poll, the wait ends early.
        const stopped = Object.entries(after.services).filter(([, st]) => st !== "running").map(([s]) => s);
        await readyOrGiveUp(opts.ready, opts.deadline ?? Date.now() + 60_000, stoppedServicesEvidence(conn, stopped), opts.giveUp);
      } catch (e) {
        const err = asPatchlabError(e);
        if (!(err instanceof LabError && err.kind === "readiness-timeout")) return result("broken", `readiness after ${step} could not be checked: ${err.message}`, { ...measured, stoppedServices });
        problems.push(`not ready after the ${step}: ${err.message}`);
      }
    }
    if (problems.length) {
      const healthy = opts.labHealthy ? await opts.labHealthy().catch(() => false) : true;
      return healthy
        ? result("failed", `${step} of ${a.patch.id} succeeded but ${problems.join("; ")}`, { ...measured, stoppedServices })
        : result("broken", `${problems.join("; ")}; the lab itself is not healthy, so this is a lab error, not the patch's`, { ...measured, stoppedServices });
    }
    return result("passed", `${outcome.message}; detection agrees; services ready${diskNote(step, measured)}`, { ...measured, stoppedServices: [] });
  } catch (e) {
    return result("broken", `checking the ${step} of ${a.patch.id} failed: ${asPatchlabError(e).message}`, facts);
  }
}

function diskNote(step: string, m: { diskDeltaBytes: number; backupBytes?: number; diskUsedBytes: number }): string {
  if (step !== "install") return `; ${formatBytes(-m.diskDeltaBytes)} freed`;
  return `; disk used ${formatBytes(m.diskUsedBytes)}${m.backupBytes ? ` (of which ${formatBytes(m.backupBytes)} uninstall backup)` : ""}`;
}

export function formatBytes(n: number): string {
  const a = Math.abs(n);
  const s = a >= 1 << 20 ? `${(a / (1 << 20)).toFixed(1)} MiB` : a >= 1024 ? `${(a / 1024).toFixed(1)} KiB` : `${a} B`;
  return n < 0 ? `-${s}` : s;
}
