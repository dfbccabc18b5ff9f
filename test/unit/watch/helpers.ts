// Helpers for the watchers' unit tests: a Connection that runs commands on this host (so the
// watchers' shell scripts are exercised for real against temp files and this host's /proc),
// a machine handle, and synthetic observations.
import { execFile } from "node:child_process";
import { nullLogger } from "../../../harness/core/log.ts";
import { fakeLab } from "../../../harness/lab/roles/testing.ts";
import type { Connection, ExecResult, MachineHandle } from "../../../harness/lab/types.ts";
import type { WatchContext, WatchWindow } from "../../../harness/watch/types.ts";

export class LocalConnection implements Connection {
  readonly machine = "local";
  execs: string[] = [];
  async exec(cmd: string | string[]): Promise<ExecResult> {
    const argv = typeof cmd === "string" ? ["sh", "-c", cmd] : cmd;
    this.execs.push(argv.join(" "));
    const t0 = Date.now();
    return new Promise((resolve) => {
      execFile(argv[0]!, argv.slice(1), { maxBuffer: 64 << 20 }, (err, stdout, stderr) => {
        const code = err ? (typeof (err as { code?: unknown }).code === "number" ? (err as { code: number }).code : 1) : 0;
        resolve({ exitCode: code, stdout, stderr, durationMs: Date.now() - t0 });
      });
    });
  }
  async upload(): Promise<void> {}
  async download(): Promise<Buffer> { return Buffer.alloc(0); }
  async restart(): Promise<void> {}
  async waitUntilReady(): Promise<void> {}
}

export function machine(roles: string[] = ["web"]): MachineHandle {
  return fakeLab([{ name: "web", roles, ip: "127.0.0.1" }]).handles[0]!;
}

export function ctxFor(conn: Connection, window: Partial<WatchWindow> = {}, m = machine()): WatchContext {
  return { machine: m, conn, window: { ms: 300, sampleMs: 100, ...window }, log: nullLogger, phase: "post-install" };
}
