// The watcher contract. A Check observes one machine for a window of time: `before` observes
// during the baseline phase and returns what it saw (JSON, storable); `after` observes for the
// same length of time during a later phase and compares with that baseline. Each watcher
// keeps observation (impure, needs the machine) apart from comparison (pure, unit-tested).
import type { Logger } from "../core/log.ts";
import type { Connection, MachineHandle } from "../lab/types.ts";
import type { WatchPolicy } from "./policy.ts";

/** A file attached to a finding: sample log lines, an SVG chart. */
export interface Attachment {
  name: string;
  contentType: "text/plain" | "image/svg+xml" | "application/json";
  body: string;
}

export type Severity = "info" | "warning" | "error";

export interface Finding {
  /** The watcher that found it: "logs", "counters", "latency", "soak". */
  watcher: string;
  severity: Severity;
  /** Short and stable across runs (no counts or times): findings are deduplicated on it. */
  title: string;
  message: string;
  /** The policy says this finding rejects the patch. */
  rejects: boolean;
  evidence: Attachment[];
}

/** One engine-side resource sample (the container as the engine accounts for it). */
export interface EngineStats {
  /** Epoch ms of the sample. */
  at: number;
  /** Cumulative CPU time of the container, ns. */
  cpuNs: number;
  /** Memory the machine's processes hold (anonymous / RSS, without page cache), bytes. */
  memBytes: number;
}

/**
 * What a driver with an engine offers the watchers. Docker: dockerode stats and logs
 * (engine.ts). A driver without one (SSH hosts) passes none; the watchers then sample CPU
 * and memory from inside the machine only and read no container log.
 */
export interface EngineProbe {
  stats(): Promise<EngineStats>;
  /** Container stdout/stderr lines with their epoch-ms time, from..to (inclusive). */
  logs(fromMs: number, toMs: number): Promise<{ at: number; stream: "stdout" | "stderr"; line: string }[]>;
  /** Bytes written to the machine's own filesystem layer (Docker: SizeRw), if the engine knows. */
  diskBytes?(): Promise<number | undefined>;
}

/**
 * The observation window. Watchers observe for `ms`, and if `during` is given, also until it
 * settles (the phase's suites), so lines the suites provoke fall inside the window in every
 * phase: baseline and later phases then compare like with like.
 */
export interface WatchWindow {
  ms: number;
  /** Sampling period inside the window (bounded below by the policy). */
  sampleMs: number;
  during?: Promise<unknown>;
  signal?: AbortSignal;
}

export interface WatchContext {
  machine: MachineHandle;
  conn: Connection;
  engine?: EngineProbe;
  window: WatchWindow;
  log: Logger;
  /** Phase being observed ("baseline", "post-install", "soak", "watch"...): for messages only. */
  phase: string;
}

/** JSON-serialisable: baselines are stored for `patchlab watch`. */
export type Baseline = { watcher: string; version: 1; [k: string]: unknown };

export interface Check<B extends Baseline = Baseline> {
  readonly name: string;
  before(ctx: WatchContext): Promise<B>;
  after(ctx: WatchContext, baseline: B): Promise<Finding[]>;
}

/**
 * A Check built from its two halves, so the runner can also say what was observed (a note)
 * and unit tests can drive the pure comparison.
 */
export interface Watcher<B extends Baseline = Baseline> extends Check<B> {
  observe(ctx: WatchContext): Promise<B>;
  compare(baseline: B, observed: B, phase: string): Finding[];
  /** One line on what an observation saw: sources, samples, the sampling's own cost. */
  note(observed: B): string;
}

export function watcher<B extends Baseline>(
  name: string,
  observe: (ctx: WatchContext) => Promise<B>,
  compare: (baseline: B, observed: B, phase: string) => Finding[],
  note: (observed: B) => string,
): Watcher<B> {
  return {
    name,
    observe,
    compare,
    note,
    before: (ctx) => observe(ctx),
    after: async (ctx, baseline) => compare(baseline, await observe(ctx), ctx.phase),
  };
}

/**
 * A watcher that cannot observe (engine gone, machine stopped) throws a LabError: never a
 * finding, and the evidence says "broken" (the patch is not blamed).
 */
export type { WatchPolicy };
