// Soak: an observation window after install (seconds in CI, hours in a real lab) during which
// the watchers keep observing, slice after slice of the baseline's window length (like with
// like), and a limited re-run of the suites keeps going. Something that breaks only after the
// immediate checks passed is caught here and named as a soak finding.
import { asPatchlabError } from "../core/errors.ts";
import type { TestOutcome } from "../report/outcome-model.ts";
import type { CheckResult } from "./evidence.ts";
import { latencyFindings } from "./latency.ts";
import type { WatchPolicy } from "./policy.ts";
import type { Baseline, Check, Finding, WatchContext } from "./types.ts";
import { watchPhase } from "./phase.ts";
import { sleepUntil } from "./window.ts";

export interface SoakInput {
  checks: Check[];
  baselines: Record<string, Baseline>;
  /** The machine's context; its window is one slice (give the baseline's window: same length). */
  ctx: WatchContext;
  policy: WatchPolicy;
  /** Default: policy.soak.seconds. */
  durationMs?: number;
  /** Default: policy.soak.suiteIntervalSeconds. */
  suiteIntervalMs?: number;
  /** The caller's limited suites (the run's "limited" depth); their outcomes are held to `reference`. */
  runLimitedSuites?: () => Promise<TestOutcome[]>;
  /** What passed right after install (the post-install outcomes): a check passing there and failing in the soak broke later. */
  reference?: TestOutcome[];
  /** Called as each new finding appears. */
  onFinding?: (f: SoakFinding) => void;
  signal?: AbortSignal;
}

export interface SoakFinding extends Finding {
  /** ms after the soak started when it was first seen. */
  atMs: number;
}

export interface SoakResult {
  durationMs: number;
  /** Every distinct finding (watcher + title), first occurrence. */
  findings: SoakFinding[];
  /** Per watcher over the whole soak, plus "soak" for the suite re-runs: for gate evidence (phase "soak"). */
  results: CheckResult[];
  slices: number;
  suiteRuns: { atMs: number; outcomes: TestOutcome[]; error?: string }[];
}

const secs = (ms: number) => `${Math.round(ms / 1000)} s`;

/** Pure: what a soak re-run of the suites shows against the reference run. */
export function soakSuiteFindings(reference: TestOutcome[], outcomes: TestOutcome[], atMs: number, policy: WatchPolicy): Finding[] {
  const { severity, rejects } = policy.soak;
  const found: Finding[] = [];
  for (const o of outcomes) {
    const ref = reference.find((r) => r.name === o.name);
    if (ref?.status !== "passed" || o.status === "passed" || o.status === "skipped") continue;
    const lab = o.status === "broken";
    found.push({
      watcher: "soak",
      // A check the lab could not run is no verdict on the patch.
      severity: lab ? "warning" : severity,
      rejects: lab ? false : rejects,
      title: `${lab ? "could not run" : "broke"} during soak: ${o.name}`,
      message: `passed right after install, ${o.status} ${secs(atMs)} into the soak${o.message ? `: ${o.message}` : ""}`,
      evidence: [{ name: "soak re-run", contentType: "text/plain", body: `${o.name}\nright after install: ${ref.status}\n${secs(atMs)} into the soak: ${o.status}\n${o.message ?? ""}\n` }],
    });
  }
  found.push(...latencyFindings(reference, outcomes, policy, { watcher: "soak" }).map((f) => ({ ...f, message: `${secs(atMs)} into the soak: ${f.message}` })));
  return found;
}

export async function runSoak(input: SoakInput): Promise<SoakResult> {
  const { policy, ctx } = input;
  const durationMs = input.durationMs ?? policy.soak.seconds * 1000;
  const intervalMs = input.suiteIntervalMs ?? policy.soak.suiteIntervalSeconds * 1000;
  const sliceMs = ctx.window.ms;
  const t0 = Date.now();
  const end = t0 + durationMs;
  const seen = new Map<string, SoakFinding>();
  const perWatcher = new Map<string, CheckResult>();
  const suiteRuns: SoakResult["suiteRuns"] = [];
  let slices = 0;
  const aborted = () => input.signal?.aborted === true;

  const note = (f: Finding, atMs: number) => {
    const key = `${f.watcher}\u0000${f.title}`;
    if (seen.has(key)) return;
    const sf = { ...f, atMs };
    seen.set(key, sf);
    ctx.log.info("soak finding", { watcher: f.watcher, title: f.title, atMs });
    input.onFinding?.(sf);
  };
  const result = (name: string): CheckResult => {
    let r = perWatcher.get(name);
    if (!r) {
      r = { name, machine: ctx.machine.spec.name, phase: "soak", findings: [] };
      perWatcher.set(name, r);
    }
    return r;
  };

  const watchers = (async () => {
    // Whole slices only: a shorter one would not compare like with like.
    do {
      const startMs = Date.now() - t0;
      const rs = await watchPhase(input.checks, { ...ctx, phase: "soak", window: { ...ctx.window, ms: sliceMs, signal: input.signal } }, input.baselines);
      slices++;
      for (const r of rs) {
        const agg = result(r.name);
        if (r.error && !agg.error) agg.error = `${r.error} (slice at ${secs(startMs)})`;
        if (r.note) agg.note = `last slice: ${r.note}`;
        for (const f of r.findings) {
          if (!agg.findings.some((x) => x.watcher === f.watcher && x.title === f.title)) agg.findings.push(f);
          note(f, startMs);
        }
      }
    } while (!aborted() && Date.now() + sliceMs <= end);
  })();

  const suites = (async () => {
    if (!input.runLimitedSuites) return;
    const agg = result("soak");
    for (let k = 1; ; k++) {
      await sleepUntil(t0 + k * intervalMs, input.signal);
      if (aborted() || Date.now() >= end) break;
      const atMs = Date.now() - t0;
      try {
        const outcomes = await input.runLimitedSuites();
        suiteRuns.push({ atMs, outcomes });
        for (const f of soakSuiteFindings(input.reference ?? [], outcomes, atMs, policy)) {
          if (!agg.findings.some((x) => x.title === f.title)) agg.findings.push(f);
          note(f, atMs);
        }
      } catch (e) {
        const error = asPatchlabError(e).message;
        suiteRuns.push({ atMs, outcomes: [], error });
        agg.error ??= `suite re-run at ${secs(atMs)} could not run: ${error}`;
      }
    }
    agg.note = `${suiteRuns.length} re-run(s) of the limited suites every ${secs(intervalMs)}`;
  })();

  await Promise.all([watchers, suites]);
  return { durationMs: Date.now() - t0, findings: [...seen.values()], results: [...perWatcher.values()], slices, suiteRuns };
}
