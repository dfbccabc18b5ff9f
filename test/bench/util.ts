// Small helpers the bench sections share: timed child processes (with peak memory of their
// process tree), percentiles, and the host's description.
import { spawn } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { repoRoot } from "../../harness/core/paths.ts";
import { sampleRss, type RssPeak } from "./rss.ts";

export const BIN = path.join(repoRoot, "bin", "patchlab.js");
export const HERE = path.join(repoRoot, "test", "bench");

export interface Timed { code: number; ms: number; stdout: string; stderr: string; rss: RssPeak; }

/** Runs a command to completion, timing it from spawn to exit and sampling its tree's memory. */
export function timed(cmd: string, args: string[], opts: { env?: Record<string, string>; cwd?: string; timeoutMs?: number; killSignal?: NodeJS.Signals; log?: string } = {}): Promise<Timed> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const child = spawn(cmd, args, { cwd: opts.cwd ?? repoRoot, env: { ...process.env, ...opts.env }, stdio: ["ignore", "pipe", "pipe"] });
    const sampler = sampleRss(child.pid!);
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (b) => (stdout += b));
    child.stderr.on("data", (b) => (stderr += b));
    const timer = setTimeout(() => child.kill(opts.killSignal ?? "SIGKILL"), opts.timeoutMs ?? 900_000);
    child.on("error", reject);
    child.on("close", (code) => {
      clearTimeout(timer);
      const ms = performance.now() - t0;
      const rss = sampler.stop();
      if (opts.log) {
        fs.mkdirSync(path.dirname(opts.log), { recursive: true });
        fs.writeFileSync(opts.log, `$ ${cmd} ${args.join(" ")}\n# exit ${code}, ${ms.toFixed(0)} ms\n--- stdout\n${stdout}\n--- stderr\n${stderr}`);
      }
      resolve({ code: code ?? -1, ms, stdout, stderr, rss });
    });
  });
}

/** The real CLI, as a user runs it. */
export const patchlab = (args: string[], opts: Parameters<typeof timed>[2] = {}) => timed(process.execPath, [BIN, ...args], opts);

/** Fails loudly: a bench figure from a step that did not work is worthless. */
export function must(r: Timed, what: string): Timed {
  if (r.code !== 0) throw new Error(`${what} exited ${r.code}:\n${(r.stdout + r.stderr).slice(-3000)}`);
  return r;
}

export function percentile(xs: number[], p: number): number {
  if (!xs.length) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  // Nearest rank: p95 of 10 samples is the 10th, the honest reading of a small sample.
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)]!;
}

export const median = (xs: number[]) => percentile(xs, 50);

export function hostInfo() {
  const cpus = os.cpus();
  return {
    hostname: os.hostname(),
    cores: os.availableParallelism(),
    cpu: cpus[0]?.model.trim() ?? "unknown",
    memoryGb: Math.round((os.totalmem() / 2 ** 30) * 10) / 10,
    kernel: os.release(),
    node: process.version,
  };
}

/** Load average and the containers others run right now: how quiet the machine was. */
export function loadNow(): { load1: number; load5: number } {
  const [l1, l5] = os.loadavg();
  return { load1: Math.round(l1! * 100) / 100, load5: Math.round(l5! * 100) / 100 };
}

export const s = (ms: number) => (Number.isFinite(ms) ? `${(ms / 1000).toFixed(2)} s` : "—");
export const ratio = (a: number, b: number) => (b > 0 && Number.isFinite(a) ? `${(a / b).toFixed(2)}x` : "—");
