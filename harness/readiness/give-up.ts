// Ending a readiness wait early when nothing is left to come up. After an install or uninstall
// the step has finished and the lab's machines have no supervisor that restarts services
// (patchlab-init starts them once, at boot): a service whose init script says it is not running,
// with the machine's listening sockets unchanged, poll after poll over a grace period, will not
// be ready by the deadline either. Waiting the whole deadline for it (20 s a step, repeated at
// every bisection cycle of a patch that breaks a service) is the harness's waste, not a check.
// A service that is slow to start is still waited for: its init script reports it running (its
// process is there) or a socket opens, either of which resets the count. Two polls a second apart
// suffice: the state taken right after the step already saw the service stopped (a third look),
// and init scripts report a starting daemon as running once its process exists. 3 polls over 3 s
// cost ~5 s per broken step, four of them per bisection of one bad web patch.
import { LabError } from "../core/errors.ts";
import { sleepUntil } from "../core/sleep.ts";
import type { Connection } from "../lab/types.ts";

export interface Evidence {
  /** Nothing is coming up: the services are stopped and nothing new listens. */
  dead: boolean;
  /** What was seen, for the message (and to tell an unchanged machine from a changing one). */
  detail: string;
}

export interface GiveUpOptions {
  /** How long the evidence must hold, poll after poll, before the wait ends (default PATCHLAB_READY_DEAD_GRACE_MS or 1000). */
  graceMs?: number;
  /** Consecutive polls needed at least (default 2). */
  minPolls?: number;
  /** One readiness attempt's length between two evidence polls (default 1000 ms). */
  sliceMs?: number;
}

export function deadGraceMs(): number {
  const raw = process.env.PATCHLAB_READY_DEAD_GRACE_MS;
  const n = raw === undefined || raw === "" ? 1000 : Number(raw);
  return Number.isFinite(n) && n >= 0 ? n : 1000;
}


/**
 * `ready(deadline)` until it passes or `deadline` passes, in slices; between slices `evidence()`
 * is polled, and when it says dead on `minPolls` consecutive polls spanning `graceMs` with the
 * same observation each time, the wait ends with a LabError "readiness-timeout" (the same kind a
 * deadline gives, so the caller judges it the same way) that says why it stopped early. Without
 * evidence this is just `ready(deadline)`.
 */
export async function readyOrGiveUp(
  ready: (deadline: number) => Promise<void>,
  deadline: number,
  evidence: (() => Promise<Evidence>) | undefined,
  opts: GiveUpOptions = {},
): Promise<void> {
  if (!evidence) return ready(deadline);
  const grace = opts.graceMs ?? deadGraceMs();
  const minPolls = opts.minPolls ?? 2;
  const slice = opts.sliceMs ?? 1000;
  const started = Date.now();
  let streak: { since: number; polls: number; detail: string } | undefined;
  for (;;) {
    const sliceEnd = Math.min(deadline, Date.now() + slice);
    let lastError: LabError;
    try {
      await ready(sliceEnd);
      return;
    } catch (e) {
      if (!(e instanceof LabError && e.kind === "readiness-timeout")) throw e;
      lastError = e;
    }
    if (Date.now() >= deadline) throw lastError;
    // A readiness attempt that gave up before its slice ended is not a reason to poll faster.
    await sleepUntil(sliceEnd);
    const ev = await evidence();
    if (!ev.dead || (streak && streak.detail !== ev.detail)) streak = undefined;
    if (ev.dead) streak ??= { since: Date.now(), polls: 0, detail: ev.detail };
    if (streak) streak.polls++;
    if (streak && streak.polls >= minPolls && Date.now() - streak.since >= grace) {
      const waited = ((Date.now() - started) / 1000).toFixed(1);
      throw new LabError(
        "readiness-timeout",
        `${lastError.message}; stopped waiting after ${waited} s: ${ev.detail}, unchanged on ${streak.polls} consecutive polls over ${((Date.now() - streak.since) / 1000).toFixed(1)} s, so nothing is left to come up`,
        lastError.remedy,
        lastError.machine ? { machine: lastError.machine } : {},
      );
    }
    if (Date.now() >= deadline) throw lastError;
  }
}

const SERVICE_NAME = /^[A-Za-z0-9][A-Za-z0-9._@+-]*$/;

/**
 * The evidence for `services` (those the state after the step found stopped): each one's init
 * script status (what the state calls running or stopped) and the machine's listening sockets.
 * Dead when every one of them is still stopped; the sockets are part of the observation, so a
 * socket that opens breaks the streak. Undefined when there is nothing stopped to watch.
 */
export function stoppedServicesEvidence(conn: Connection, services: string[]): (() => Promise<Evidence>) | undefined {
  const names = services.filter((s) => SERVICE_NAME.test(s));
  if (names.length === 0) return undefined;
  const script = [
    `for s in ${names.join(" ")}; do`,
    '  if [ -x "/etc/init.d/$s" ] && "/etc/init.d/$s" status >/dev/null 2>&1; then echo "$s running"; else echo "$s stopped"; fi; done',
    "cat /proc/net/tcp /proc/net/tcp6 2>/dev/null | awk '$4==\"0A\" {print \"listening tcp\", $2}'",
    "cat /proc/net/udp /proc/net/udp6 2>/dev/null | awk '$4==\"07\" {print \"listening udp\", $2}'",
    "true",
  ].join("\n");
  return async () => {
    try {
      const r = await conn.exec(["sh", "-c", script], { timeoutMs: 5000 });
      if (r.exitCode !== 0) return { dead: false, detail: `evidence probe exited ${r.exitCode}` };
      return parseEvidence(r.stdout, names);
    } catch (e) {
      // Not being able to look is no evidence: keep waiting.
      return { dead: false, detail: `evidence probe failed: ${(e as Error).message}` };
    }
  };
}

export function parseEvidence(out: string, services: string[]): Evidence {
  const status = new Map<string, string>();
  const sockets = new Set<string>();
  for (const line of out.split("\n")) {
    const s = /^(\S+) (running|stopped)$/.exec(line.trim());
    if (s) status.set(s[1]!, s[2]!);
    const l = /^listening (tcp|udp) ([0-9A-F]+):([0-9A-F]{4})$/.exec(line.trim());
    if (l) sockets.add(`${l[1]}/${parseInt(l[3]!, 16)}`);
  }
  const stopped = services.filter((s) => status.get(s) === "stopped");
  const dead = stopped.length === services.length;
  const detail = dead
    ? `service(s) ${stopped.join(", ")} not running (listening: ${[...sockets].sort().join(", ") || "nothing"})`
    : `service(s) ${services.filter((s) => status.get(s) !== "stopped").join(", ")} running or unknown`;
  return { dead, detail };
}
