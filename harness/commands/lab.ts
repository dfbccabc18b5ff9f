// `patchlab lab ...`: bring the lab up and down, show its health, snapshot and restore it.
import type { Lab } from "../config/schemas.ts";
import { checkLabFitsHost, loadLab } from "../config/loader.ts";
import { networkName } from "../lab/addressing.ts";
import { ConfigError } from "../core/errors.ts";
import { say, RunLogs } from "../core/log.ts";
import { reportsRoot } from "../core/paths.ts";
import path from "node:path";
import { dockerFor, requireEngine } from "../lab/drivers/docker-engine.ts";
import { enginesOf } from "../lab/drivers/docker-engines.ts";
import { LabDrivers } from "../lab/drivers/lab-driver.ts";
import { acquireLabLock } from "../lab/lock.ts";
import { reapLab } from "../lab/reaper.ts";
import { diffFingerprints, fingerprint } from "../lab/fingerprint.ts";
import type { MachineHandle, MachineStatus, SnapshotRef } from "../lab/types.ts";
import { newRunId } from "../run/run-id.ts";

export interface LabSession {
  lab: Lab;
  labFile: string;
  /** Every machine of the lab through its own driver (`driver:` in the lab file). */
  driver: LabDrivers;
  /** The lab's machines, in lab-file order. */
  machines: MachineHandle[];
  logs: RunLogs;
  release(): void;
}

/**
 * Everything a lab command starts with: the lab file validated (bad input stops here,
 * before anything is created), the engine reachable, leftovers of dead runs reaped, the lab
 * locked for this process.
 */
export async function openLab(ref: string | undefined, purpose: string, opts: { ephemeral?: boolean; runId?: string; creates?: boolean } = {}): Promise<LabSession> {
  const loaded = await loadLab(ref ?? "reference");
  const d = await requireEngine();
  // Every site engine must answer too (an error names the one that does not).
  for (const e of enginesOf(loaded.lab)) if (!e.isDefault) await requireEngine(dockerFor(e));
  // A command that creates machines first checks the host can take them (subnet free, capacity).
  if (opts.creates) await checkLabFitsHost(loaded, d, networkName(loaded.lab.name));
  const runId = opts.runId ?? newRunId(purpose.replace(/\s+/g, "-"));
  // One log per lab and machine across lab commands (each line carries its command id).
  const logs = new RunLogs(path.join(reportsRoot(), ".lab-logs", loaded.lab.name), runId);
  const driverOpts = { log: (m: string) => logs.machine(m), onProgress: say, ephemeral: opts.ephemeral ?? false };
  const driver = new LabDrivers(driverOpts);
  const lock = acquireLabLock(loaded.lab.name, purpose, { run: runId });
  try {
    const r = await reapLab(loaded.lab, logs.run);
    for (const x of r.restored) say(`reaper: restored ${x.machine} left patched by interrupted run ${x.run}`);
    if (r.removedContainers.length) say(`reaper: removed ${r.removedContainers.length} container(s) of interrupted runs: ${r.removedContainers.join(", ")}`);
    for (const f of r.failed) say(`reaper: FAILED to clean up ${f.what} ${f.name} (the next command retries): ${f.error}`);
  } catch (e) {
    lock.release();
    throw e;
  }
  let machines: MachineHandle[];
  try {
    machines = await driver.handles(loaded.lab);
  } catch (e) {
    lock.release();
    throw e;
  }
  return { lab: loaded.lab, labFile: loaded.file, driver, machines, logs, release: () => lock.release() };
}

export async function withLab<T>(ref: string | undefined, purpose: string, fn: (s: LabSession) => Promise<T>, opts: { creates?: boolean } = {}): Promise<T> {
  const s = await openLab(ref, purpose, opts);
  try {
    return await fn(s);
  } finally {
    s.release();
  }
}

export function pickMachines(s: LabSession, names: string[] | undefined): MachineHandle[] {
  const all = s.machines;
  if (!names || names.length === 0) return all;
  return names.map((n) => {
    const m = all.find((h) => h.spec.name === n);
    if (!m) {
      throw new ConfigError(`machine "${n}" is not in lab ${s.lab.name} (${s.labFile})`, `use one of: ${all.map((h) => h.spec.name).join(", ")}`, { file: s.labFile, field: "machines", value: n });
    }
    return m;
  });
}

export function formatStatus(rows: MachineStatus[]): string {
  const w = Math.max(6, ...rows.map((r) => (r.engine ?? "-").length));
  const lines = rows.map((r) => {
    const roles = r.health.map((h) => `${h.role}:${h.healthy ? "healthy" : "UNHEALTHY"}`).join(" ");
    const bad = r.health.filter((h) => !h.healthy).map((h) => `\n      ${h.role}: ${h.detail}`).join("");
    return `  ${r.machine.padEnd(8)} ${r.state.padEnd(8)} ${(r.ip ?? "-").padEnd(15)} ${(r.engine ?? "-").padEnd(w)} ${roles}${bad}`;
  });
  return [`  ${"MACHINE".padEnd(8)} ${"STATE".padEnd(8)} ${"IP".padEnd(15)} ${"ENGINE".padEnd(w)} ROLES`, ...lines].join("\n");
}

export async function labUp(ref: string | undefined, timeoutS: number): Promise<MachineStatus[]> {
  return withLab(ref, "lab up", async (s) => {
    say(`bringing up lab ${s.lab.name} (${s.lab.machines.length} machines)`);
    const t0 = Date.now();
    await s.driver.up(s.lab, { runId: s.logs.runId, deadline: Date.now() + timeoutS * 1000 });
    say(`lab ${s.lab.name} up in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    return s.driver.status(s.lab);
  }, { creates: true });
}

export const labStatus = (ref: string | undefined) => withLab(ref, "lab status", (s) => s.driver.status(s.lab));

export const labDown = (ref: string | undefined, purge: boolean) =>
  withLab(ref, "lab down", async (s) => {
    await s.driver.down(s.lab, { purgeSnapshots: purge });
    say(`lab ${s.lab.name} is down${purge ? " and its snapshots removed" : ""}`);
  });

export const labSnapshot = (ref: string | undefined, machines: string[] | undefined, label: string) =>
  withLab(ref, "lab snapshot", async (s) => {
    const targets = pickMachines(s, machines);
    return Promise.all(targets.map((m) => s.driver.snapshot(m, label)));
  });

export const labSnapshots = (ref: string | undefined) => withLab(ref, "lab snapshots", (s) => s.driver.snapshots(s.lab));

/** Restore machines to a snapshot label (default: each machine's newest snapshot). */
export const labRestore = (ref: string | undefined, machines: string[] | undefined, label: string | undefined, timeoutS: number) =>
  withLab(ref, "lab restore", async (s) => {
    const targets = pickMachines(s, machines);
    const snaps = await s.driver.snapshots(s.lab);
    const plan: [MachineHandle, SnapshotRef][] = targets.map((m) => {
      const mine = snaps.filter((x) => x.machine === m.spec.name && (label === undefined || x.label === label));
      const pick = mine[mine.length - 1];
      if (!pick) {
        throw new ConfigError(`no snapshot${label ? ` labelled "${label}"` : ""} of ${m.spec.name} in lab ${s.lab.name}`, "take one with `patchlab lab snapshot`; list them with `patchlab lab snapshots`", { field: "--label", value: label });
      }
      return [m, pick];
    });
    return Promise.all(
      plan.map(async ([m, ref]) => {
        const t0 = performance.now();
        await s.driver.restore(m, ref, Date.now() + timeoutS * 1000);
        return { machine: m.spec.name, label: ref.label, ms: Math.round(performance.now() - t0) };
      }),
    );
  });

export const labFingerprint = (ref: string | undefined, machine: string) =>
  withLab(ref, "lab fingerprint", async (s) => {
    const [m] = pickMachines(s, [machine]);
    return fingerprint(s.driver.connect(m!));
  });

export { diffFingerprints };
