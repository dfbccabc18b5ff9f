// Running an installer step on a machine: bounded by a timeout that really kills it (inside
// the machine, not only on the harness), stdin closed (unattended), and a result the harness
// can trust. An exit code that cannot be read is the lab's failure, never the patch's.
import { LabError } from "../core/errors.ts";
import { shq } from "../lab/roles/common.ts";
import type { Connection, ExecResult } from "../lab/types.ts";

/** Where payloads and packages are staged on a machine. Not under /tmp: uploads land in the image layer, not on a tmpfs. */
export const REMOTE_DIR = "/var/cache/patchlab";

/** Unattended everywhere: no debconf questions, no pagers. */
export const UNATTENDED_ENV: Record<string, string> = {
  DEBIAN_FRONTEND: "noninteractive",
  DEBCONF_NONINTERACTIVE_SEEN: "true",
  APT_LISTCHANGES_FRONTEND: "none",
  PAGER: "cat",
};

export interface StepRun {
  exitCode: number;
  /** stdout then stderr, trimmed. */
  output: string;
  timedOut: boolean;
  durationMs: number;
}

/** `timeout --verbose` says this on stderr when it had to signal the command. */
const TIMEOUT_MARK = /^timeout: sending signal \w+ to command/m;

/**
 * Run a shell command as an installer step: `timeout` kills its whole process group (dpkg and
 * the maintainer script it runs) at the step timeout, stdin is /dev/null so a prompt reads EOF.
 */
export async function runStep(
  conn: Connection,
  command: string,
  opts: { timeoutMs: number; cwd?: string; env?: Record<string, string> },
): Promise<StepRun> {
  const secs = Math.max(1, Math.ceil(opts.timeoutMs / 1000));
  const inner = `${opts.cwd ? `cd ${shq(opts.cwd)} && ` : ""}exec timeout --verbose --kill-after=10s ${secs}s sh -c ${shq(command)} </dev/null`;
  // The harness-side deadline is a backstop for an engine that stops answering: the machine's own timeout fires first.
  const r = await conn.exec(["sh", "-c", inner], { timeoutMs: secs * 1000 + 30_000, env: { ...UNATTENDED_ENV, ...opts.env } });
  const exitCode = readableExit(conn, r, command);
  const timedOut = (exitCode === 124 || exitCode === 137) && TIMEOUT_MARK.test(r.stderr);
  if (exitCode !== 0 && !timedOut) await stillRunning(conn, command, exitCode);
  const stderr = r.stderr.replace(/^timeout: sending signal \w+ to command.*\n?/gm, "");
  const output = (r.stdout + stderr).trim();
  if (exitCode !== 0 && !timedOut) await diskNotFull(conn, command, exitCode, output);
  return { exitCode, output, timedOut, durationMs: r.durationMs };
}

/** What an installer prints when a write failed for want of space (dpkg, apt, tar, cp, sh). */
const DISK_FULL = /no space left on device|disk quota exceeded|\bENOSPC\b/i;

/**
 * A step that failed because the machine's disk is full says nothing about the patch: the lab
 * must have room for what it installs. The failure becomes the lab's ("disk-full", the machine's
 * `df` in the message), so the patch is not judged rather than rejected.
 */
async function diskNotFull(conn: Connection, command: string, exitCode: number, output: string): Promise<void> {
  const line = output.split("\n").find((l) => DISK_FULL.test(l));
  if (!line) return;
  const df = await conn.exec(["df", "-h", "-x", "proc", "-x", "sysfs"], { timeoutMs: 15_000 }).then((x) => x.stdout.trim(), () => "");
  throw new LabError(
    "disk-full",
    `\`${command.slice(0, 120)}\` exited ${exitCode} on ${conn.machine} because a disk is full: ${line.trim().slice(0, 300)}${df ? `\n${df}` : ""}`,
    `free space on ${conn.machine} (or give its engine more storage) and run again; the patch was not judged`,
    { machine: conn.machine },
  );
}

/**
 * A step that failed on a machine that has since stopped (killed, OOM, engine restart) says
 * nothing about the patch: the installer was killed with it (dpkg "exited 137"). The machine
 * must still answer a trivial command for the failure to count as the patch's.
 */
async function stillRunning(conn: Connection, command: string, exitCode: number): Promise<void> {
  const what = `\`${command.slice(0, 120)}\` exited ${exitCode} on ${conn.machine}`;
  const remedy = "the machine stopped under the run (killed, out of memory, engine restarted): `patchlab lab status` shows it; the patch was not judged";
  let alive: ExecResult;
  try {
    alive = await conn.exec(["true"], { timeoutMs: 15_000 });
  } catch (e) {
    if (e instanceof LabError && e.kind === "interrupted") throw e; // the run is stopping: say that, not "killed"
    throw new LabError("machine-killed", `${what}, and ${conn.machine} no longer runs commands (${(e as Error).message.slice(0, 200)})`, remedy, { machine: conn.machine }, { cause: e });
  }
  if (alive.exitCode !== 0) throw new LabError("machine-killed", `${what}, and ${conn.machine} cannot run \`true\` any more (exit ${alive.exitCode})`, remedy, { machine: conn.machine });
}

/** Run a short read-only command (detection, queries); its exit code must be readable. */
export async function query(conn: Connection, cmd: string | string[], timeoutMs = 60_000): Promise<ExecResult> {
  const r = await conn.exec(cmd, { timeoutMs, env: UNATTENDED_ENV });
  readableExit(conn, r, typeof cmd === "string" ? cmd : cmd.join(" "));
  return r;
}

/** The exit code, or a LabError when the transport could not read one (the command's fate is unknown). */
export function readableExit(conn: Connection, r: ExecResult, what: string): number {
  if (!Number.isInteger(r.exitCode) || r.exitCode < 0 || r.exitCode > 255) {
    throw new LabError(
      "exec",
      `the exit code of \`${what.slice(0, 120)}\` on ${conn.machine} could not be read (got ${String(r.exitCode)}): whether it succeeded is unknown`,
      "the engine or transport lost the command's status; check the machine is running (`patchlab lab status`) and retry",
      { machine: conn.machine },
    );
  }
  return r.exitCode;
}

/** The last lines of an installer's output, for a one-line message. */
export function lastLines(s: string, n = 2): string {
  return s.split("\n").filter(Boolean).slice(-n).join(" | ").slice(0, 300);
}
