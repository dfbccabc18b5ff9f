// Host tools (apt-get, dpkg-deb, openssl) run with a deadline: past it the tool and everything
// it started (apt-get's dpkg and download methods) are killed, and the caller gets a LabError
// of kind "timeout" naming the tool, instead of a harness that waits forever.
import { spawn } from "node:child_process";
import { LabError } from "./errors.ts";

export interface ChildOptions {
  /** Deadline for the whole run, in ms. */
  timeoutMs: number;
  /** What the tool is doing, for messages: "dpkg-deb --build of PL-1". */
  what: string;
  /** What a person can do when it times out. */
  timeoutRemedy: string;
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  input?: string | Buffer;
  /** Most output kept per stream (the tail is dropped past it). */
  maxBuffer?: number;
}

export interface ChildResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** The tool ran and exited non-zero. */
export class ChildFailed extends Error {
  constructor(readonly cmd: string, readonly result: ChildResult) {
    super(`${cmd} exited ${result.code}: ${(result.stderr || result.stdout).trim().split("\n").slice(-3).join(" | ")}`);
    this.name = "ChildFailed";
  }
}

const live = new Set<number>();
let exitHookInstalled = false;
/** Process groups still running when the harness exits are killed with it. */
function track(pid: number): void {
  live.add(pid);
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on("exit", () => {
    for (const p of live) killGroup(p, "SIGKILL");
  });
}

function killGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    try {
      process.kill(pid, signal);
    } catch {
      /* already gone */
    }
  }
}

/**
 * Run `cmd args` to completion. Resolves on exit 0; rejects with ChildFailed on another exit
 * code, with the spawn error (ENOENT: not installed) when it cannot start, and with a
 * LabError("timeout") when the deadline passes.
 */
export function runChild(cmd: string, args: string[], opts: ChildOptions): Promise<ChildResult> {
  const maxBuffer = opts.maxBuffer ?? 16 << 20;
  return new Promise((resolve, reject) => {
    // Its own process group, so a timeout kills what the tool started too.
    const child = spawn(cmd, args, { cwd: opts.cwd, env: opts.env, detached: true, stdio: ["pipe", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    let timedOut = false;
    const keep = (acc: string, b: Buffer) => (acc.length < maxBuffer ? acc + b.toString() : acc);
    child.stdout.on("data", (b: Buffer) => (stdout = keep(stdout, b)));
    child.stderr.on("data", (b: Buffer) => (stderr = keep(stderr, b)));
    child.stdin.on("error", () => undefined); // a tool that does not read its input
    if (child.pid !== undefined) track(child.pid);
    let grace: NodeJS.Timeout | undefined;
    const timer = setTimeout(() => {
      timedOut = true;
      killGroup(child.pid!, "SIGTERM");
      grace = setTimeout(() => killGroup(child.pid!, "SIGKILL"), 2000);
    }, opts.timeoutMs);
    child.once("error", (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.once("close", (code, signal) => {
      clearTimeout(timer);
      clearTimeout(grace);
      if (child.pid !== undefined) live.delete(child.pid);
      if (timedOut) {
        reject(
          new LabError(
            "timeout",
            `${opts.what} did not finish within ${formatMs(opts.timeoutMs)} and was killed (${cmd} ${args.join(" ").slice(0, 120)})`,
            opts.timeoutRemedy,
          ),
        );
        return;
      }
      const result = { code: code ?? (signal ? 128 : -1), stdout, stderr };
      if (code === 0) resolve(result);
      else reject(new ChildFailed(cmd, result));
    });
    if (opts.input !== undefined) child.stdin.end(opts.input);
    else child.stdin.end();
  });
}

export function formatMs(ms: number): string {
  return ms >= 1000 ? `${+(ms / 1000).toFixed(1)} s` : `${ms} ms`;
}
