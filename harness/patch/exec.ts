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
  const stderr = r.stderr.replace(/^timeout: sending signal \w+ to command.*\n?/gm, "");
  return { exitCode, output: (r.stdout + stderr).trim(), timedOut, durationMs: r.durationMs };
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
