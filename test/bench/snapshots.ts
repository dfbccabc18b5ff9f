// Snapshot and restore-until-ready times per role, through patchlab's own driver (what `run`
// and `lab restore` call): each role's machine alone, then every machine cycling at once with at
// most `concurrency` of them at work (the run's default), then all at once. p50 and p95 (nearest
// rank) over `rounds` cycles each. Restore = the run's restore: its warm standby (started from the
// snapshot while the patch is tested) swapped in, until the role answers (the run adds a
// fingerprint on top, shown in the run breakdown).
import type { Lab } from "../../harness/config/schemas.ts";
import { DockerDriver } from "../../harness/lab/drivers/docker-driver.ts";
import { docker as defaultEngine } from "../../harness/lab/drivers/docker-engine.ts";
import { standbyAddress, standbyName } from "../../harness/lab/drivers/docker-standby.ts";
import type { MachineHandle } from "../../harness/lab/types.ts";
import { percentile } from "./util.ts";

export interface OpStats { n: number; p50: number; p95: number; max: number; }
export interface SnapshotFigures { rounds: number; concurrency: number; perRole: Record<string, { snapshot: Record<string, OpStats>; restore: Record<string, OpStats> }>; }

const stats = (xs: number[]): OpStats => ({ n: xs.length, p50: percentile(xs, 50), p95: percentile(xs, 95), max: Math.max(...xs) });

async function cycle(driver: DockerDriver, m: MachineHandle, label: string, out: { snapshot: number[]; restore: number[] }): Promise<void> {
  let t = performance.now();
  const ref = await driver.snapshot(m, label, "bench");
  out.snapshot.push(performance.now() - t);
  // As in a run: the standby starts from the snapshot while the patch is tested (not timed:
  // the run installs and runs suites meanwhile), and the restore swaps it in.
  driver.prepareRestore(m, ref);
  await standbyReady(driver, m);
  t = performance.now();
  await driver.restore(m, ref, Date.now() + 120_000);
  out.restore.push(performance.now() - t);
  await driver.deleteSnapshot(ref);
}

/**
 * Until the machine's standby runs on the default engine, where bench labs live, and its roles
 * answer on its spare address (at most 20 s each; without one the restore recreates). In a run the
 * standby boots while the patch is installed and checked, seconds at least: a restore timed the
 * moment the standby's container started would count its services' boot (postgres about a second),
 * which no run pays.
 */
async function standbyReady(driver: DockerDriver, m: MachineHandle): Promise<void> {
  const docker = defaultEngine();
  for (let i = 0; i < 200; i++) {
    const info = await docker.getContainer(standbyName(m.container)).inspect().catch(() => undefined);
    if (info?.State.Running) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  const ip = standbyAddress(m.lab, m.spec.name);
  if (ip) await driver.waitReady({ ...m, container: standbyName(m.container), ip }, Date.now() + 20_000).catch(() => undefined);
}

/** At most `limit` holders at once. */
function semaphore(limit: number): <T>(fn: () => Promise<T>) => Promise<T> {
  let free = limit;
  const waiting: (() => void)[] = [];
  return async (fn) => {
    if (free > 0) free--;
    else await new Promise<void>((r) => waiting.push(r));
    try {
      return await fn();
    } finally {
      const next = waiting.shift();
      if (next) next();
      else free++;
    }
  };
}

export async function benchSnapshots(driver: DockerDriver, lab: Lab, rounds: number, concurrency: number): Promise<SnapshotFigures> {
  const machines = driver.handlesFor(lab).filter((m) => m.spec.roles.some((r) => ["web", "dns", "db", "file", "app"].includes(r)));
  const samples = new Map<string, Record<string, { snapshot: number[]; restore: number[] }>>();
  const bucket = (m: MachineHandle, mode: string) => {
    const per = samples.get(m.spec.name) ?? {};
    per[mode] ??= { snapshot: [], restore: [] };
    samples.set(m.spec.name, per);
    return per[mode]!;
  };
  // Alone: one machine at a time, nothing else cycling.
  for (const m of machines) for (let i = 0; i < rounds; i++) await cycle(driver, m, `bench-alone-${i}`, bucket(m, "alone"));
  // Under the run's concurrency, then with every machine at once.
  for (const [mode, limit] of [[`x${concurrency}`, concurrency], [`x${machines.length}`, machines.length]] as const) {
    // Each machine cycles on its own (never two ops on one machine), at most `limit` at work.
    const slot = semaphore(limit);
    await Promise.all(machines.map(async (m) => {
      for (let i = 0; i < rounds; i++) await slot(() => cycle(driver, m, `bench-${mode}-${i}`, bucket(m, mode)));
    }));
  }
  const perRole: SnapshotFigures["perRole"] = {};
  for (const m of machines) {
    const per = samples.get(m.spec.name)!;
    perRole[m.spec.roles[0]!] = {
      snapshot: Object.fromEntries(Object.entries(per).map(([k, v]) => [k, stats(v.snapshot)])),
      restore: Object.fromEntries(Object.entries(per).map(([k, v]) => [k, stats(v.restore)])),
    };
  }
  return { rounds, concurrency, perRole };
}
