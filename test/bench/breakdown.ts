// Where a patchlab run's time goes, per machine and per phase, from what the run wrote:
// records.jsonl (install/uninstall/restore/pipeline steps with start and stop), the machine
// logs (logs/<machine>.log: the time "fingerprint before" and each suite run were logged) and
// run.json (lab-up). Suite records carry no start time, so a suite run is timed from the
// machine's previous event to the moment it was logged; what lies between a step's start and
// the previous event is the harness's own bookkeeping ("between steps").
import fs from "node:fs";
import path from "node:path";

// The pipeline's own work, in order: snapshot and machine state; baseline suites; install (with
// its checks: exit code, detection, disk, services, state diff); the restart decision;
// post-install suites; idempotence (each patch applied again); uninstall (with its checks);
// residue (state against before the install); post-uninstall suites; restore with the rollback
// check. "between steps": state captures and restart scans before an install or uninstall, and
// the harness's bookkeeping. "watch windows+soak": the watchers observe each suite phase for at
// least their policy's window (10 s by default), so a phase lasts until the last watcher has
// reported after its suite; and the soak after install. Deliberate waiting, not in the raw cycle.
export const PHASES = ["snapshot+state", "baseline", "install", "restart", "post-install", "idempotence", "uninstall", "residue", "post-uninstall", "restore+state", "watch windows+soak", "between steps", "snapshot delete"] as const;
export type PhaseName = (typeof PHASES)[number];

export interface MachineBreakdown {
  machine: string;
  wallMs: number;
  phases: Partial<Record<PhaseName, number>>;
  /** Per suite phase: the checks' own durations (mocha's per-test times) summed. */
  checksMs: Partial<Record<PhaseName, number>>;
  /** Suite runs per phase (one mocha process each today). */
  suiteRuns: Partial<Record<PhaseName, number>>;
}

export interface RunBreakdown {
  runDir: string;
  labUpMs: number;
  /** First pipeline start to last pipeline stop. */
  pipelinesMs: number;
  machines: MachineBreakdown[];
}

/** A moment in a machine's pipeline; a step is one event at its start that lasts until `stop`. */
interface Ev { t: number; kind: "fingerprint" | "suite" | "step" | "watch"; phase?: PhaseName; stop?: number; checksMs?: number; }

const stepPhase: Record<string, PhaseName> = { install: "install", restart: "restart", idempotence: "idempotence", uninstall: "uninstall", residue: "residue", restore: "restore+state" };

function lines(file: string): Record<string, unknown>[] {
  if (!fs.existsSync(file)) return [];
  return fs.readFileSync(file, "utf8").split("\n").filter(Boolean).flatMap((l) => {
    try {
      return [JSON.parse(l) as Record<string, unknown>];
    } catch {
      return [];
    }
  });
}

export function breakdownRun(runDir: string): RunBreakdown {
  const records = lines(path.join(runDir, "records.jsonl"));
  const journal = JSON.parse(fs.readFileSync(path.join(runDir, "run.json"), "utf8")) as { steps: { step: string; status: string; durationMs?: number }[] };
  const labUpMs = journal.steps.find((s) => s.step === "lab-up" && s.status === "passed")?.durationMs ?? 0;
  const pipelines = records.filter((r) => r.type === "step" && r.step === "pipeline") as unknown as { machine: string; start: number; stop: number }[];
  const machines = pipelines.map((p) => {
    const log = lines(path.join(runDir, "logs", `${p.machine}.log`));
    const evs: Ev[] = [];
    for (const l of log) {
      const t = Number(l.time);
      const msg = String(l.msg ?? "");
      // "state before" today; "fingerprint before" in runs of older patchlabs.
      if (msg === "state before" || msg === "fingerprint before") evs.push({ t, kind: "fingerprint" });
      const m = /^suite \S+ (baseline|post-install|post-uninstall)$/.exec(msg);
      if (m) evs.push({ t, kind: "suite", phase: m[1] as PhaseName });
      // "log watch observed", "counter watch observed", ...: a watcher reported (after its window).
      if (/^\w+ watch observed$/.test(msg)) evs.push({ t, kind: "watch", phase: "watch windows+soak" });
    }
    // Test durations come from the records (the log has only names and statuses).
    const suites = records.filter((r) => r.type === "suite" && r.machine === p.machine) as unknown as { phase: PhaseName; result: { tests: { durationMs: number }[] } }[];
    const suiteEvs = evs.filter((e) => e.kind === "suite");
    suiteEvs.forEach((e, i) => (e.checksMs = suites[i]?.result.tests.reduce((a, t) => a + t.durationMs, 0) ?? 0));
    for (const r of records as unknown as { type: string; machine: string; step: string; start: number; stop: number }[]) {
      if (r.type !== "step" || r.machine !== p.machine || !stepPhase[r.step]) continue;
      evs.push({ t: r.start, kind: "step", stop: r.stop, phase: stepPhase[r.step] });
    }
    // A machine's steps and suite runs follow one another: ordered by start, they never overlap.
    evs.sort((a, b) => a.t - b.t);
    const b: MachineBreakdown = { machine: p.machine, wallMs: p.stop - p.start, phases: {}, checksMs: {}, suiteRuns: {} };
    const add = (ph: PhaseName, ms: number) => (b.phases[ph] = (b.phases[ph] ?? 0) + Math.max(0, ms));
    let prev = p.start;
    for (const e of evs) {
      if (e.kind === "fingerprint") add("snapshot+state", e.t - prev);
      else if (e.kind === "watch") add("watch windows+soak", e.t - prev);
      else if (e.kind === "step") {
        add("between steps", e.t - prev);
        add(e.phase!, e.stop! - e.t);
        prev = e.stop!;
        continue;
      } else {
        add(e.phase!, e.t - prev);
        b.checksMs[e.phase!] = (b.checksMs[e.phase!] ?? 0) + (e.checksMs ?? 0);
        b.suiteRuns[e.phase!] = (b.suiteRuns[e.phase!] ?? 0) + 1;
      }
      prev = e.t;
    }
    // After the last restore: the snapshot is deleted (and dangling images pruned).
    add("snapshot delete", p.stop - prev);
    return b;
  });
  const pipelinesMs = pipelines.length ? Math.max(...pipelines.map((p) => p.stop)) - Math.min(...pipelines.map((p) => p.start)) : 0;
  return { runDir, labUpMs, pipelinesMs, machines };
}

/** What patchlab did on each machine: its install sets in order (the chained aggregate, then singles). */
export function installCycles(runDir: string): Map<string, string[][]> {
  const out = new Map<string, string[][]>();
  const records = lines(path.join(runDir, "records.jsonl")) as unknown as { type: string; machine: string; step: string; patch?: string; group?: string[] }[];
  // Per machine: the records of machines worked on at once interleave.
  const last = new Map<string, string>();
  for (const r of records) {
    if (r.type !== "step" || r.step !== "install" || !r.patch) continue;
    const set = r.group ?? [r.patch];
    const cycles = out.get(r.machine) ?? [];
    const key = set.join(",");
    // One install record per member of a group: the group is one cycle.
    if (!(r.group && key === last.get(r.machine) && cycles.length)) cycles.push(set);
    last.set(r.machine, key);
    out.set(r.machine, cycles);
  }
  return out;
}

/** Raw script output: "T <machine> <step> <ms>" lines summed per machine and step. */
export function rawTimings(stdout: string): Map<string, Partial<Record<string, number>>> {
  const out = new Map<string, Partial<Record<string, number>>>();
  for (const l of stdout.split("\n")) {
    const m = /^T (\S+) (\S+) (\d+)$/.exec(l.trim());
    if (!m) continue;
    const per = out.get(m[1]!) ?? {};
    per[m[2]!] = (per[m[2]!] ?? 0) + Number(m[3]);
    out.set(m[1]!, per);
  }
  return out;
}

/** Raw probe results: "P <machine> <phase> <passed> <failed>". */
export function rawProbes(stdout: string): { machine: string; phase: string; passed: number; failed: number }[] {
  return stdout.split("\n").flatMap((l) => {
    const m = /^P (\S+) (\S+) (\d+) (\d+)$/.exec(l.trim());
    return m ? [{ machine: m[1]!, phase: m[2]!, passed: Number(m[3]), failed: Number(m[4]) }] : [];
  });
}
