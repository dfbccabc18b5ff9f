// One LabDriver for a whole lab whose machines may use different drivers (containers, VMs,
// existing servers over SSH): each call goes to the driver of the machine's `driver:`, and
// lab-wide calls (up, status, snapshots, down) ask every driver the lab uses for its own
// machines. The orchestrator and the lab commands only see this, so a mixed lab runs the same
// pipeline, suites and gate as an all-container one.
import { type Lab, type MachineDriver } from "../../config/schemas.ts";
import { stateDir } from "../../core/paths.ts";
import { labPki } from "../pki.ts";
import type { LabPki } from "../roles/types.ts";
import type { LabDriver, MachineHandle, MachineStatus, SnapshotRef, UpOptions, Connection } from "../types.ts";
import { DockerDriver } from "./docker-driver.ts";
import { Drivers, type DriverOptions } from "./driver-for.ts";

/** Containers first: the Docker driver makes the lab network the others join. */
const ORDER: MachineDriver[] = ["docker", "vm", "ssh"];

export class LabDrivers implements LabDriver {
  readonly registry: Drivers;
  private readonly labs = new Map<string, Lab>();
  private readonly pkis = new Map<string, Promise<LabPki>>();

  constructor(opts: DriverOptions = {}, registry?: Drivers) {
    this.registry = registry ?? new Drivers(opts);
  }

  /**
   * The drivers this lab uses, in bring-up order (containers first, the default engine before
   * site engines: the Docker driver makes the lab network the others join), each with the
   * names of its machines.
   */
  private groups(lab: Lab): [LabDriver, Set<string>][] {
    this.labs.set(lab.name, lab);
    const by = this.registry.groupsOf(lab);
    const rank = (k: string) => ORDER.indexOf(k.startsWith("docker:") ? "docker" : (k as MachineDriver));
    return by.sort((a, b) => rank(a.key) - rank(b.key)).map((g) => [g.driver, new Set(g.machines.map((m) => m.name))]);
  }

  private ofLab = <T extends { machine: string }>(lab: Lab, rows: T[]): T[] => {
    const order = new Map(lab.machines.map((m, i) => [m.name, i]));
    return rows.sort((a, b) => (order.get(a.machine) ?? 0) - (order.get(b.machine) ?? 0));
  };

  /** The lab's CA and certificates: one per lab, whichever driver runs its machines. */
  pki(lab: Lab): Promise<LabPki> {
    let p = this.pkis.get(lab.name);
    if (!p) this.pkis.set(lab.name, (p = labPki(stateDir(), lab)));
    return p;
  }

  async handles(lab: Lab): Promise<MachineHandle[]> {
    const out: MachineHandle[] = [];
    for (const [driver, names] of this.groups(lab)) out.push(...(await driver.handles(lab)).filter((h) => names.has(h.spec.name)));
    return lab.machines.map((spec) => out.find((h) => h.spec.name === spec.name)!).filter(Boolean);
  }

  async up(lab: Lab, opts: UpOptions): Promise<MachineHandle[]> {
    // Every driver provisions with every machine of the lab in view (the DNS zone, certificates).
    const all = await this.handles(lab);
    const up: MachineHandle[] = [];
    for (const [driver, names] of this.groups(lab)) {
      up.push(...(await driver.up(lab, { ...opts, machines: all })).filter((h) => names.has(h.spec.name)));
    }
    return lab.machines.map((spec) => up.find((h) => h.spec.name === spec.name) ?? all.find((h) => h.spec.name === spec.name)!);
  }

  async status(lab: Lab): Promise<MachineStatus[]> {
    // Each row names where its machine runs: a container's engine endpoint, else its driver.
    const kindOf = new Map(lab.machines.map((m) => [m.name, m.driver ?? "docker"]));
    const rows = await Promise.all(
      this.groups(lab).map(async ([driver, names]) => (await driver.status(lab)).filter((r) => names.has(r.machine)).map((r) => ({ ...r, engine: r.engine ?? kindOf.get(r.machine) }))),
    );
    return this.ofLab(lab, rows.flat());
  }

  connect(m: MachineHandle): Connection {
    return this.registry.driverFor(m).connect(m);
  }

  snapshot(m: MachineHandle, label: string, runId?: string): Promise<SnapshotRef> {
    return this.registry.driverFor(m).snapshot(m, label, runId);
  }

  prepareRestore(m: MachineHandle, ref: SnapshotRef): void {
    this.registry.driverFor(m).prepareRestore?.(m, ref);
  }

  restore(m: MachineHandle, ref: SnapshotRef, deadline: number): Promise<void> {
    return this.registry.driverFor(m).restore(m, ref, deadline);
  }

  async snapshots(lab: Lab): Promise<SnapshotRef[]> {
    const rows = await Promise.all(this.groups(lab).map(async ([driver, names]) => (await driver.snapshots(lab)).filter((r) => names.has(r.machine))));
    return rows.flat().sort((a, b) => a.createdAt.localeCompare(b.createdAt));
  }

  deleteSnapshot(ref: SnapshotRef): Promise<void> {
    const spec = this.labs.get(ref.lab)?.machines.find((m) => m.name === ref.machine);
    const lab = this.labs.get(ref.lab);
    return (lab && spec ? this.registry.driverOfSpec(lab, spec) : this.registry.get("docker")).deleteSnapshot(ref);
  }

  /** Start again the machines of `names` found stopped (containers: an engine restart stops them all); returns those started. */
  async startStopped(lab: Lab, names: readonly string[], deadline: number): Promise<string[]> {
    const out: string[] = [];
    for (const [driver] of this.groups(lab)) {
      if (driver instanceof DockerDriver) out.push(...(await driver.startStopped(lab, names, deadline)));
    }
    return out;
  }

  async down(lab: Lab, opts: { purgeSnapshots?: boolean } = {}): Promise<void> {
    // The reverse of up: VMs and servers leave the lab network before it goes. Every engine is
    // taken down even when one fails (an engine that does not answer must not keep the others up).
    const failures: unknown[] = [];
    for (const [driver] of this.groups(lab).reverse()) {
      await (driver as LabDriver & { down(l: Lab, o?: { purgeSnapshots?: boolean }): Promise<void> }).down(lab, opts).catch((e: unknown) => failures.push(e));
    }
    if (failures.length) throw failures[0];
  }
}
