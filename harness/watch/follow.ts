// Keep watching machines after deployment (`patchlab watch`): one window of the baseline's
// length every interval, compared with the stored baseline; each finding reported once, as it
// appears; stops by itself at the end of the period or when the signal aborts (Ctrl-C).
import { ConfigError } from "../core/errors.ts";
import type { CheckResult } from "./evidence.ts";
import { watchPhase } from "./phase.ts";
import type { Baseline, Check, Finding, WatchContext, WatchWindow } from "./types.ts";
import { sleepUntil } from "./window.ts";

const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 };

/** "2w", "36h", "1h30m", "45s", "500ms" -> ms. */
export function parseDuration(text: string, option: string): number {
  const t = text.trim();
  const parts = [...t.matchAll(/(\d+(?:\.\d+)?)(ms|s|m|h|d|w)/g)];
  if (!t || parts.map((p) => p[0]).join("") !== t) {
    throw new ConfigError(`${option} "${text}" is not a duration`, `write a number with a unit: ms, s, m, h, d or w (e.g. 2w, 36h, 1h30m, 45s)`, { field: option, value: text });
  }
  return parts.reduce((n, p) => n + Number(p[1]) * UNITS[p[2]!]!, 0);
}

export const formatDuration = (ms: number): string => {
  if (ms < 1000) return `${Math.round(ms)} ms`;
  const s = Math.round(ms / 1000);
  if (s < 120) return `${s} s`;
  if (s < 7200) return `${Math.round(s / 60)} min`;
  if (s < 172_800) return `${(s / 3600).toFixed(1)} h`;
  return `${(s / 86_400).toFixed(1)} d`;
};

export interface FollowedMachine {
  name: string;
  baselines: Record<string, Baseline>;
  /** A context for one window (phase "watch"). */
  context(window: WatchWindow): WatchContext;
}

export interface FollowInput {
  machines: FollowedMachine[];
  checks: Check[];
  window: { ms: number; sampleMs: number };
  intervalMs: number;
  forMs: number;
  signal?: AbortSignal;
  onFinding?(machine: string, f: Finding, atMs: number): void;
  /** A watcher could not observe (first time in a row only). */
  onBroken?(machine: string, check: string, error: string): void;
  onWindow?(machine: string, results: CheckResult[], index: number): void;
}

export interface FollowResult {
  windows: number;
  findings: { machine: string; finding: Finding; atMs: number }[];
  /** Windows in which at least one watcher could not observe. */
  brokenWindows: number;
  stoppedBy: "time" | "signal";
  elapsedMs: number;
}

export async function follow(input: FollowInput): Promise<FollowResult> {
  const t0 = Date.now();
  const end = t0 + input.forMs;
  const seen = new Set<string>();
  const brokenNow = new Set<string>();
  const findings: FollowResult["findings"] = [];
  let windows = 0;
  let brokenWindows = 0;
  const aborted = () => input.signal?.aborted === true;
  // Whole windows only: a shortened one would not compare like with like.
  for (let k = 0; !aborted() && Date.now() + input.window.ms <= end; k++) {
    const start = Date.now();
    const window: WatchWindow = { ...input.window, ...(input.signal ? { signal: input.signal } : {}) };
    const results = await Promise.all(input.machines.map(async (m) => ({ m, rs: await watchPhase(input.checks, m.context(window), m.baselines) })));
    if (aborted()) break; // the window was cut short: its comparisons are not trustworthy
    windows++;
    let broken = false;
    for (const { m, rs } of results) {
      input.onWindow?.(m.name, rs, k);
      for (const r of rs) {
        const bkey = `${m.name}\u0000${r.name}`;
        if (r.error) {
          broken = true;
          if (!brokenNow.has(bkey)) input.onBroken?.(m.name, r.name, r.error);
          brokenNow.add(bkey);
          continue;
        }
        brokenNow.delete(bkey);
        for (const f of r.findings) {
          const key = `${m.name}\u0000${f.watcher}\u0000${f.title}`;
          if (seen.has(key)) continue;
          seen.add(key);
          const atMs = start - t0;
          findings.push({ machine: m.name, finding: f, atMs });
          input.onFinding?.(m.name, f, atMs);
        }
      }
    }
    if (broken) brokenWindows++;
    await sleepUntil(Math.min(start + input.intervalMs, end), input.signal);
  }
  return { windows, findings, brokenWindows, stoppedBy: aborted() ? "signal" : "time", elapsedMs: Date.now() - t0 };
}
