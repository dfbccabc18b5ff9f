// Latency against the baseline. The suites record how long the service took to answer each
// check (TestOutcome.latencyMs); a check whose latency grew past the policy's threshold (x3
// AND +500 ms by default: both, so a 2 ms -> 7 ms wobble is no finding) is a finding even
// though it passed. The same comparison serves the probe watcher below, which times the
// machine's readiness probes through the window (a latency source that needs no suite).
import { roleModule } from "../lab/roles/index.ts";
import type { LabPki } from "../lab/roles/types.ts";
import type { TestOutcome } from "../report/outcome-model.ts";
import type { WaitStrategy } from "../readiness/wait.ts";
import { svgLineChart } from "./chart.ts";
import type { WatchPolicy } from "./policy.ts";
import { median } from "./stats.ts";
import { watcher, type Attachment, type Baseline, type Finding, type WatchContext, type Watcher } from "./types.ts";
import { watchWindow } from "./window.ts";

const ms = (x: number) => `${Math.round(x)} ms`;

/**
 * Pure: latency findings of a phase's outcomes against the baseline's, matched by check name.
 * Only checks that passed in the phase count (a failing check is the suites' finding, not a
 * latency one); a check without a recorded latency on either side is not compared.
 */
export function latencyFindings(baseline: TestOutcome[], phase: TestOutcome[], policy: WatchPolicy, opts: { watcher?: string; charts?: Record<string, Attachment> } = {}): Finding[] {
  const { factor, plusMs, severity, rejects } = policy.latency;
  const base = new Map(baseline.filter((o) => o.latencyMs !== undefined && o.status === "passed").map((o) => [o.name, o.latencyMs!]));
  const found: Finding[] = [];
  for (const o of phase) {
    if (o.status !== "passed" || o.latencyMs === undefined) continue;
    const b = base.get(o.name);
    if (b === undefined) continue;
    if (o.latencyMs >= b * factor && o.latencyMs - b >= plusMs) {
      const text = `${o.name}\nbaseline: ${ms(b)}\nthis phase: ${ms(o.latencyMs)}\nthreshold: x${factor} and +${plusMs} ms\n`;
      found.push({
        watcher: opts.watcher ?? "latency",
        severity,
        rejects,
        title: `slower answers: ${o.name}`,
        message: `answered in ${ms(o.latencyMs)}, baseline ${ms(b)} (x${(o.latencyMs / Math.max(b, 1)).toFixed(1)}, +${ms(o.latencyMs - b)}; threshold x${factor} and +${plusMs} ms); the check itself passed`,
        evidence: [{ name: "latency", contentType: "text/plain", body: text }, ...(opts.charts?.[o.name] ? [opts.charts[o.name]!] : [])],
      });
    }
  }
  return found;
}

export interface ProbeSeries {
  name: string;
  /** Seconds into the window, ms taken, answered as expected. */
  samples: { t: number; ms: number; ok: boolean }[];
}

export interface ProbeObservation extends Baseline {
  watcher: "latency";
  version: 1;
  machine: string;
  durationMs: number;
  probes: ProbeSeries[];
}

/** A probe series as one outcome: passed when every probe answered, latency = the median. */
export function probeOutcomes(obs: ProbeObservation): TestOutcome[] {
  return obs.probes.map((p) => {
    const bad = p.samples.filter((s) => !s.ok);
    const okMs = p.samples.filter((s) => s.ok).map((s) => s.ms);
    const lat = median(okMs);
    return {
      name: p.name,
      status: bad.length === 0 && p.samples.length > 0 ? "passed" : "failed",
      ...(bad.length ? { message: `${bad.length} of ${p.samples.length} probes failed` } : {}),
      durationMs: p.samples.reduce((n, s) => n + s.ms, 0),
      ...(lat !== undefined ? { latencyMs: Math.round(lat * 10) / 10 } : {}),
    };
  });
}

/** Pure: probe findings: answers slower than the baseline's, and probes that stopped answering. */
export function compareProbes(base: ProbeObservation, phase: ProbeObservation, policy: WatchPolicy, phaseName = "phase"): Finding[] {
  const charts: Record<string, Attachment> = {};
  for (const p of phase.probes) {
    const b = base.probes.find((x) => x.name === p.name);
    charts[p.name] = {
      name: "latency chart",
      contentType: "image/svg+xml",
      body: svgLineChart(
        [
          { name: "baseline", points: (b?.samples ?? []).map((s) => [s.t, s.ms]), dashed: true },
          { name: phaseName, points: p.samples.map((s) => [s.t, s.ms]) },
        ],
        { title: `${p.name} on ${phase.machine}`, yLabel: "ms to answer" },
      ),
    };
  }
  const before = probeOutcomes(base);
  const after = probeOutcomes(phase);
  const found = latencyFindings(before, after, policy, { charts });
  for (const o of after) {
    const b = before.find((x) => x.name === o.name);
    if (o.status !== "passed" && b?.status === "passed") {
      found.push({
        watcher: "latency",
        severity: policy.latency.severity,
        rejects: policy.latency.rejects,
        title: `stopped answering: ${o.name}`,
        message: `${o.message ?? "probes failed"} in this phase; every one answered in the baseline`,
        evidence: charts[o.name] ? [charts[o.name]!] : [],
      });
    }
  }
  return found;
}

/** The probes timed: each role's readiness probes, individually. */
export function machineProbes(ctx: WatchContext, pki?: LabPki): { name: string; s: WaitStrategy }[] {
  return ctx.machine.spec.roles.flatMap((r) => {
    try {
      // Readiness strategies only use the PKI for HTTPS checks with a CA; none of today's do.
      return roleModule(r).readiness(ctx.machine, pki as LabPki).map((s) => ({ name: `probe ${r}: ${s.describe()}`, s }));
    } catch {
      return [];
    }
  });
}

export async function observeProbes(ctx: WatchContext, pki?: LabPki): Promise<ProbeObservation> {
  const probes = machineProbes(ctx, pki);
  const series: ProbeSeries[] = probes.map((p) => ({ name: p.name, samples: [] }));
  const target = { machine: ctx.machine.spec.name, ip: ctx.machine.ip, conn: ctx.conn };
  const w = await watchWindow(ctx.window, async (t) => {
    // One at a time: concurrent probes would measure each other.
    for (const [i, p] of probes.entries()) {
      const t0 = performance.now();
      const r = await p.s.probe(target);
      series[i]!.samples.push({ t: Math.round(t) / 1000, ms: Math.round((performance.now() - t0) * 10) / 10, ok: r.ok });
    }
  });
  return { watcher: "latency", version: 1, machine: ctx.machine.spec.name, durationMs: w.endedAt - w.startedAt, probes: series };
}

export function probeNote(o: ProbeObservation): string {
  return o.probes.map((p) => `${p.name}: median ${median(p.samples.filter((s) => s.ok).map((s) => s.ms))?.toFixed(1) ?? "-"} ms over ${p.samples.length}`).join("; ") || "no probe";
}

/** The probe latency watcher as a Check. */
export function latencyCheck(policy: WatchPolicy, pki?: LabPki): Watcher<ProbeObservation> {
  return watcher("latency", (ctx) => observeProbes(ctx, pki), (b, o, phase) => compareProbes(b, o, policy, phase), probeNote);
}
