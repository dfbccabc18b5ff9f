// Run every watcher of a machine over one window at once; a watcher that cannot observe is
// reported broken without stopping the others.
import { asPatchlabError } from "../core/errors.ts";
import type { CheckResult } from "./evidence.ts";
import type { Baseline, Check, WatchContext, Watcher } from "./types.ts";

const message = (e: unknown) => asPatchlabError(e).message;

export interface BaselineResult {
  /** Per watcher name; a watcher that could not observe has none (its later phases are broken). */
  baselines: Record<string, Baseline>;
  /** One result per watcher for the baseline phase (no findings; broken when it could not observe). */
  results: CheckResult[];
}

/** Observe the baseline phase with every watcher at once. */
export async function watchBaseline(checks: Check[], ctx: WatchContext): Promise<BaselineResult> {
  const settled = await Promise.allSettled(checks.map((c) => c.before(ctx)));
  const baselines: Record<string, Baseline> = {};
  const results: CheckResult[] = settled.map((s, i) => {
    const c = checks[i]!;
    const base = { name: c.name, machine: ctx.machine.spec.name, phase: ctx.phase, findings: [] };
    if (s.status === "rejected") {
      ctx.log.warn(`watcher ${c.name} could not observe the baseline`, { error: message(s.reason) });
      return { ...base, error: message(s.reason) };
    }
    baselines[c.name] = s.value;
    const note = (c as Partial<Watcher>).note?.(s.value);
    return note ? { ...base, note } : base;
  });
  return { baselines, results };
}

/** Observe a later phase with every watcher at once and compare with the baselines. */
export async function watchPhase(checks: Check[], ctx: WatchContext, baselines: Record<string, Baseline>): Promise<CheckResult[]> {
  const settled = await Promise.allSettled(
    checks.map(async (c): Promise<Omit<CheckResult, "name" | "machine" | "phase">> => {
      const b = baselines[c.name];
      if (!b) throw new Error(`no baseline for watcher ${c.name} (it could not observe the baseline phase)`);
      const w = c as Partial<Watcher>;
      if (w.observe && w.compare && w.note) {
        const o = await w.observe(ctx);
        return { findings: w.compare(b, o, ctx.phase), note: w.note(o) };
      }
      return { findings: await c.after(ctx, b) };
    }),
  );
  return settled.map((s, i) => {
    const base = { name: checks[i]!.name, machine: ctx.machine.spec.name, phase: ctx.phase };
    if (s.status === "rejected") {
      ctx.log.warn(`watcher ${checks[i]!.name} could not observe ${ctx.phase}`, { error: message(s.reason) });
      return { ...base, findings: [], error: message(s.reason) };
    }
    return { ...base, ...s.value };
  });
}
