// Counter watch: CPU and memory as the engine accounts for the machine, and from inside it
// the process and thread counts, open files, and the long-running services (children of the
// machine's init) whose pid changes when they crash and are restarted. Sampled through the
// window; a later phase is compared with the baseline by the policy's thresholds. What the
// sampling itself costs inside the machine is measured and reported with every observation.
import { LabError } from "../core/errors.ts";
import type { WatchPolicy } from "./policy.ts";
import { sampleMachine, type MachineSample, type Proc } from "./sampler.ts";
import { svgLineChart } from "./chart.ts";
import { median, steadyGrowth } from "./stats.ts";
import { watcher, type Attachment, type Baseline, type EngineStats, type Finding, type WatchContext, type Watcher } from "./types.ts";
import { watchWindow, type Sampled } from "./window.ts";

export interface CounterPoint {
  /** Seconds into the window. */
  t: number;
  /** Percent of one core over the interval that ends here (absent on the first sample). */
  cpuPct?: number;
  memMB?: number;
  procs: number;
  threads: number;
  fds: number;
}

export interface DaemonId {
  pid: number;
  start: number;
  comm: string;
}

export interface ServiceEvent {
  comm: string;
  kind: "restarted" | "died";
  /** Seconds into the window. */
  t: number;
  from: number;
  to?: number;
}

export interface CounterObservation extends Baseline {
  watcher: "counters";
  version: 1;
  machine: string;
  durationMs: number;
  sampleMs: number;
  source: { cpu: "engine" | "machine"; memory: "engine" | "machine" };
  points: CounterPoint[];
  /** Long-running services (children of the machine's init) at the first and last sample. */
  services: { first: DaemonId[]; last: DaemonId[] };
  events: ServiceEvent[];
  /** Busiest processes over the window (percent of one core) and biggest memory growth (MB). */
  top: { cpu: { pid: number; comm: string; pct: number }[]; memGrowth: { pid: number; comm: string; mb: number }[] };
  diskMB?: { start: number; end: number };
  /** Most processes of each program (command name) seen at once in the window. */
  programs?: Record<string, number>;
  /** The sampling's own CPU inside the machine (sh, cat, awk), summed over the window. */
  overhead: { samples: number; cpuMs: number; pointsOfCore: number };
}

// Processes that are the machine's own plumbing, not services.
const NOT_SERVICES = new Set(["patchlab-init", "tini", "sleep"]);

export const servicesOf = (procs: Proc[]): DaemonId[] =>
  procs.filter((p) => p.ppid === 1 && !NOT_SERVICES.has(p.comm)).map((p) => ({ pid: p.pid, start: p.start, comm: p.comm }));

const same = (a: DaemonId, b: DaemonId) => a.pid === b.pid && a.start === b.start;

/**
 * Pure: crashes and restarts between consecutive samples. A service whose process is gone and
 * whose name has a new process is "restarted"; gone with no successor, "died". Only services
 * present at the window's first sample are followed (a helper that comes and goes is not one).
 */
export function serviceEvents(samples: { t: number; services: DaemonId[] }[]): ServiceEvent[] {
  const events: ServiceEvent[] = [];
  if (samples.length === 0) return events;
  const followed = new Set(samples[0]!.services.map((d) => d.comm));
  for (let i = 1; i < samples.length; i++) {
    const prev = samples[i - 1]!.services;
    const next = samples[i]!.services;
    for (const comm of followed) {
      const gone = prev.filter((d) => d.comm === comm && !next.some((n) => same(n, d)));
      const fresh = next.filter((d) => d.comm === comm && !prev.some((p) => same(p, d)));
      gone.forEach((g, j) => {
        const to = fresh[j];
        events.push(to ? { comm, kind: "restarted", t: samples[i]!.t, from: g.pid, to: to.pid } : { comm, kind: "died", t: samples[i]!.t, from: g.pid });
      });
      // Back after a gap with none running (a slow restart): the death was a restart.
      for (const f of fresh.slice(gone.length)) {
        const death = events.find((e) => e.comm === comm && e.kind === "died");
        if (death) Object.assign(death, { kind: "restarted", to: f.pid });
      }
    }
  }
  return events;
}

interface RawSample {
  machine: MachineSample;
  engine?: EngineStats;
}

/** Pure: an observation from the window's raw samples. */
export function summarise(machine: string, raw: Sampled<RawSample>[], durationMs: number, sampleMs: number, disk?: { start: number; end: number }): CounterObservation {
  const points: CounterPoint[] = [];
  const hasEngine = raw.every((r) => r.value.engine);
  raw.forEach((r, i) => {
    const s = r.value.machine;
    const p: CounterPoint = {
      t: r.t / 1000,
      procs: s.procs.length,
      threads: s.procs.reduce((n, x) => n + x.threads, 0),
      fds: s.fds,
    };
    if (hasEngine) p.memMB = r.value.engine!.memBytes / 1048576;
    else p.memMB = s.procs.reduce((n, x) => n + x.rssKb, 0) / 1024;
    if (i > 0) {
      const prev = raw[i - 1]!.value;
      if (hasEngine) {
        const dt = r.value.engine!.at - prev.engine!.at;
        if (dt > 0) p.cpuPct = ((r.value.engine!.cpuNs - prev.engine!.cpuNs) / 1e6 / dt) * 100;
      } else {
        const dt = r.t - raw[i - 1]!.t;
        const ticks = s.procs.reduce((n, x) => {
          const before = prev.machine.procs.find((q) => q.pid === x.pid && q.start === x.start);
          return n + (before ? Math.max(0, x.ticks - before.ticks) : 0);
        }, 0);
        if (dt > 0) p.cpuPct = ((ticks / s.hz) * 1000 / dt) * 100;
      }
    }
    points.push(p);
  });

  const first = raw[0]?.value.machine;
  const last = raw[raw.length - 1]?.value.machine;
  const spanS = raw.length > 1 ? (raw[raw.length - 1]!.t - raw[0]!.t) / 1000 : 0;
  const cpuTop: CounterObservation["top"]["cpu"] = [];
  const memTop: CounterObservation["top"]["memGrowth"] = [];
  if (first && last && spanS > 0) {
    for (const p of last.procs) {
      const b = first.procs.find((q) => q.pid === p.pid && q.start === p.start);
      const ticks = p.ticks - (b?.ticks ?? 0);
      // A process born during the window: all its ticks are this window's.
      cpuTop.push({ pid: p.pid, comm: p.comm, pct: (ticks / last.hz / spanS) * 100 });
      memTop.push({ pid: p.pid, comm: p.comm, mb: (p.rssKb - (b?.rssKb ?? 0)) / 1024 });
    }
  }
  const costMs = raw.reduce((n, r) => n + r.value.machine.costMs, 0);
  return {
    watcher: "counters",
    version: 1,
    machine,
    durationMs,
    sampleMs,
    source: { cpu: hasEngine ? "engine" : "machine", memory: hasEngine ? "engine" : "machine" },
    points,
    services: { first: first ? servicesOf(first.procs) : [], last: last ? servicesOf(last.procs) : [] },
    programs: programsOf(raw.map((r) => r.value.machine)),
    events: serviceEvents(raw.map((r) => ({ t: r.t / 1000, services: servicesOf(r.value.machine.procs) }))),
    top: {
      cpu: cpuTop.sort((a, b) => b.pct - a.pct).slice(0, 3).map((x) => ({ ...x, pct: round(x.pct) })),
      memGrowth: memTop.sort((a, b) => b.mb - a.mb).slice(0, 3).map((x) => ({ ...x, mb: round(x.mb) })),
    },
    ...(disk ? { diskMB: disk } : {}),
    overhead: { samples: raw.length, cpuMs: round(costMs), pointsOfCore: round(durationMs > 0 ? (costMs / durationMs) * 100 : 0) },
  };
}

const round = (x: number) => Math.round(x * 100) / 100;

/** Per program (command name), the most of its processes seen in one sample. */
function programsOf(samples: MachineSample[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const s of samples) {
    const n: Record<string, number> = {};
    for (const p of s.procs) n[p.comm] = (n[p.comm] ?? 0) + 1;
    for (const [k, v] of Object.entries(n)) out[k] = Math.max(out[k] ?? 0, v);
  }
  return out;
}

/**
 * Programs that ran in the phase and never in the baseline (a new daemon, a leftover helper), or,
 * when both windows list them, none: more processes of programs the baseline already ran is a
 * worker pool resizing under load (Apache's prefork children), not a new process.
 */
function newPrograms(base: CounterObservation, phase: CounterObservation): string[] | undefined {
  if (!base.programs || !phase.programs) return undefined;
  return Object.keys(phase.programs).filter((k) => !(k in base.programs!)).sort();
}

/** Observe a machine's counters for the window. */
export async function observeCounters(ctx: WatchContext): Promise<CounterObservation> {
  const disk0 = await diskMB(ctx);
  const w = await watchWindow(ctx.window, async (): Promise<RawSample> => {
    const [machine, engine] = await Promise.all([sampleMachine(ctx.conn), ctx.engine?.stats()]);
    return engine ? { machine, engine } : { machine };
  });
  const disk1 = await diskMB(ctx);
  // The machine's init started at another time: it was restarted or restored mid-window (a
  // concurrent run?). Every pid changed for that reason, not the patch's: cannot observe.
  const boots = new Set(w.samples.map((s) => s.value.machine.procs.find((p) => p.pid === 1)?.start));
  if (boots.size > 1) {
    throw new LabError("exec", `${ctx.machine.spec.name} was restarted or restored during the ${ctx.phase} window: its counters cannot be compared`, "do not restart or restore a machine while it is watched", { machine: ctx.machine.spec.name });
  }
  const obs = summarise(ctx.machine.spec.name, w.samples, w.endedAt - w.startedAt, ctx.window.sampleMs, disk0 !== undefined && disk1 !== undefined ? { start: disk0, end: disk1 } : undefined);
  ctx.log.debug("counter watch observed", { phase: ctx.phase, samples: w.samples.length, overhead: obs.overhead, events: obs.events });
  return obs;
}

async function diskMB(ctx: WatchContext): Promise<number | undefined> {
  if (ctx.engine?.diskBytes) {
    const b = await ctx.engine.diskBytes();
    if (b !== undefined) return round(b / 1048576);
  }
  // No engine: the machine's own root filesystem (a VM's disk is its own).
  const r = await ctx.conn.exec("df -Pk / | awk 'NR==2 { print $3 }'", { timeoutMs: 20_000 });
  const kb = Number(r.stdout.trim());
  return r.exitCode === 0 && Number.isFinite(kb) && r.stdout.trim() ? round(kb / 1024) : undefined;
}

function series(obs: CounterObservation, key: keyof Pick<CounterPoint, "cpuPct" | "memMB" | "procs" | "threads" | "fds">): [number, number][] {
  return obs.points.filter((p) => p[key] !== undefined).map((p) => [p.t, p[key] as number]);
}

function chart(name: string, title: string, yLabel: string, base: CounterObservation, phase: CounterObservation, key: Parameters<typeof series>[1], phaseName: string, mark?: { y: number; label: string }): Attachment {
  const body = svgLineChart(
    [
      { name: "baseline", points: series(base, key), dashed: true },
      { name: phaseName, points: series(phase, key) },
    ],
    { title, yLabel, ...(mark ? { marks: [mark] } : {}) },
  );
  return { name, contentType: "image/svg+xml", body };
}

const f1 = (x: number) => x.toFixed(1);

/**
 * A trend within the window counts only when it ends well above everything the baseline showed
 * (by the trend threshold itself): a service coming back up after a restart (workers forked
 * again under the suites' load, caches refilled) grows steadily too, but back to about its usual
 * level. A leak keeps going.
 */
function beyondBaseline(base: CounterObservation, phase: CounterObservation, key: Parameters<typeof series>[1], growth: number, margin: number): number {
  const b = series(base, key).map((p) => p[1]);
  const last = series(phase, key).at(-1)?.[1];
  if (!b.length || last === undefined) return growth;
  return last >= Math.max(...b) + margin ? growth : 0;
}

/** Pure: findings of a phase's counters against the baseline's. */
export function compareCounters(base: CounterObservation, phase: CounterObservation, policy: WatchPolicy, phaseName = "phase"): Finding[] {
  const c = policy.counters;
  const found: Finding[] = [];
  const med = (o: CounterObservation, k: Parameters<typeof series>[1]) => median(series(o, k).map((p) => p[1]));
  const add = (rule: { severity: Finding["severity"]; rejects: boolean }, title: string, message: string, evidence: Attachment[]) =>
    found.push({ watcher: "counters", severity: rule.severity, rejects: rule.rejects, title, message, evidence });

  const cpuB = med(base, "cpuPct");
  const cpuP = med(phase, "cpuPct");
  if (cpuB !== undefined && cpuP !== undefined && cpuP - cpuB >= c.cpu.medianIncreasePoints) {
    const busy = phase.top.cpu.map((x) => `${x.comm} (pid ${x.pid}) ${f1(x.pct)}%`).join(", ");
    add(c.cpu, "CPU use above baseline", `median CPU ${f1(cpuP)}% of one core, baseline ${f1(cpuB)}% (+${f1(cpuP - cpuB)} points, threshold +${c.cpu.medianIncreasePoints}); busiest: ${busy || "?"}`, [
      chart("CPU chart", `CPU on ${phase.machine}: baseline vs ${phaseName}`, "% of one core", base, phase, "cpuPct", phaseName, { y: cpuB + c.cpu.medianIncreasePoints, label: "threshold" }),
    ]);
  }

  const memB = med(base, "memMB");
  const memP = med(phase, "memMB");
  const growth = beyondBaseline(base, phase, "memMB", steadyGrowth(series(phase, "memMB")), c.memory.trendMB);
  if (memB !== undefined && memP !== undefined && (memP - memB >= c.memory.increaseMB || growth >= c.memory.trendMB)) {
    const growers = phase.top.memGrowth.filter((x) => x.mb > 1).map((x) => `${x.comm} (pid ${x.pid}) +${f1(x.mb)} MB`).join(", ");
    add(c.memory, "memory use grew", `median memory ${f1(memP)} MB, baseline ${f1(memB)} MB (+${f1(memP - memB)} MB, threshold +${c.memory.increaseMB}); steady growth within the window: +${f1(growth)} MB (threshold ${c.memory.trendMB}); growing: ${growers || "?"}`, [
      chart("memory chart", `Memory on ${phase.machine}: baseline vs ${phaseName}`, "MB (processes, no page cache)", base, phase, "memMB", phaseName, { y: memB + c.memory.increaseMB, label: "threshold" }),
    ]);
  }

  const prB = med(base, "procs");
  const prP = med(phase, "procs");
  const prGrowth = beyondBaseline(base, phase, "procs", steadyGrowth(series(phase, "procs")), c.processes.trend);
  if (prB !== undefined && prP !== undefined && (prP - prB >= c.processes.increase || prGrowth >= c.processes.trend)) {
    const fresh = newPrograms(base, phase);
    const poolOnly = prGrowth < c.processes.trend && fresh !== undefined && fresh.length === 0;
    const grew = Object.entries(phase.programs ?? {}).filter(([k, v]) => v > (base.programs?.[k] ?? 0)).map(([k, v]) => `${k} ${base.programs?.[k] ?? 0} -> ${v}`).join(", ");
    const why = poolOnly
      ? `; no program the baseline did not run, only more processes of the same (${grew || "?"}): a worker pool resizing, noted, not held against the patch`
      : fresh?.length ? `; new programs: ${fresh.join(", ")}` : "";
    add(poolOnly ? { severity: "warning", rejects: false } : c.processes, "process count grew", `median ${prP} processes, baseline ${prB} (threshold +${c.processes.increase}); steady growth within the window: +${f1(prGrowth)} (threshold ${c.processes.trend})${why}`, [
      chart("process count chart", `Processes on ${phase.machine}: baseline vs ${phaseName}`, "processes", base, phase, "procs", phaseName),
    ]);
  }

  const thB = med(base, "threads");
  const thP = med(phase, "threads");
  if (thB !== undefined && thP !== undefined && thP - thB >= c.threads.increase) {
    add(c.threads, "thread count grew", `median ${thP} threads, baseline ${thB} (threshold +${c.threads.increase})`, [
      chart("thread count chart", `Threads on ${phase.machine}: baseline vs ${phaseName}`, "threads", base, phase, "threads", phaseName),
    ]);
  }

  const fdB = med(base, "fds");
  const fdP = med(phase, "fds");
  if (fdB !== undefined && fdP !== undefined && fdP - fdB >= c.openFiles.increase) {
    add(c.openFiles, "open files grew", `median ${fdP} open files, baseline ${fdB} (threshold +${c.openFiles.increase})`, [
      chart("open files chart", `Open files on ${phase.machine}: baseline vs ${phaseName}`, "open file descriptors", base, phase, "fds", phaseName),
    ]);
  }

  if (base.diskMB && phase.diskMB && phase.diskMB.end - base.diskMB.end >= c.disk.increaseMB) {
    add(c.disk, "disk use grew", `${f1(phase.diskMB.end)} MB written to the machine's disk, baseline ${f1(base.diskMB.end)} MB (+${f1(phase.diskMB.end - base.diskMB.end)} MB, threshold +${c.disk.increaseMB})`, []);
  }

  // Services: crashes and restarts within the window, and services the baseline had that are gone.
  const byComm = new Map<string, ServiceEvent[]>();
  for (const e of phase.events) byComm.set(e.comm, [...(byComm.get(e.comm) ?? []), e]);
  for (const [comm, evs] of byComm) {
    const restarts = evs.filter((e) => e.kind === "restarted");
    const deaths = evs.filter((e) => e.kind === "died");
    // Flapping in the baseline too: shown, not blamed on the patch.
    const preExisting = base.events.some((e) => e.comm === comm);
    const rule = preExisting ? { severity: "warning" as const, rejects: false } : c.restarts;
    const timeline = evs.map((e) => `${f1(e.t)} s: ${e.kind} (pid ${e.from}${e.to ? ` -> ${e.to}` : ""})`).join("\n");
    const evidence: Attachment[] = [{ name: `${comm} events`, contentType: "text/plain", body: `service ${comm} on ${phase.machine} during ${phaseName}:\n${timeline}\n` }];
    if (restarts.length) {
      add(rule, `service restarted: ${comm}`, `${comm} was restarted ${restarts.length} time(s) in ${f1(phase.durationMs / 1000)} s (pid ${restarts.map((e) => `${e.from} -> ${e.to}`).join(", ")})${preExisting ? "; it restarted in the baseline too" : ""}`, evidence);
    } else if (deaths.length) {
      add(rule, `service died: ${comm}`, `${comm} (pid ${deaths.map((e) => e.from).join(", ")}) exited ${f1(deaths[0]!.t)} s into the window and was not restarted${preExisting ? "; it did so in the baseline too" : ""}`, evidence);
    }
  }
  const running = new Set([...phase.services.first, ...phase.services.last].map((d) => d.comm));
  const gone = [...new Set(base.services.last.map((d) => d.comm))].filter((comm) => !running.has(comm) && !byComm.has(comm));
  for (const comm of gone) {
    add(c.restarts, `service not running: ${comm}`, `${comm} ran in the baseline and runs at no point of this window`, []);
  }
  return found;
}

export function counterNote(o: CounterObservation): string {
  const cpu = median(series(o, "cpuPct").map((p) => p[1]));
  const mem = median(series(o, "memMB").map((p) => p[1]));
  return `${o.points.length} samples in ${f1(o.durationMs / 1000)} s: median CPU ${cpu === undefined ? "?" : f1(cpu)}%, memory ${mem === undefined ? "?" : f1(mem)} MB, ${median(series(o, "procs").map((p) => p[1])) ?? "?"} processes, ${o.services.last.length} services; sampling cost inside the machine ${o.overhead.cpuMs} ms CPU (${o.overhead.pointsOfCore}% of one core)`;
}

/** The counter watcher as a Check. */
export function counterCheck(policy: WatchPolicy): Watcher<CounterObservation> {
  return watcher("counters", observeCounters, (b, o, phase) => compareCounters(b, o, policy, phase), counterNote);
}
