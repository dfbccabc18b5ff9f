// Which LabDriver runs a machine: its `driver:` in the lab file (docker when absent). Drivers
// hold caches (sessions, the lab CA), so one registry makes each kind once and hands the same
// instance to every machine of that kind; containers get one driver per Docker engine (a
// machine's site may put it on another engine, see docker-engines.ts).
import type { Lab, Machine, MachineDriver } from "../../config/schemas.ts";
import { driverOf, isDockerMachine } from "../../config/schemas.ts";
import type { Logger } from "../../core/log.ts";
import type { LabDriver, MachineHandle } from "../types.ts";
import { DockerDriver } from "./docker-driver.ts";
import { dockerFor } from "./docker-engine.ts";
import { defaultEngineUrl, engineOf, type EngineRef } from "./docker-engines.ts";
import { SshDriver } from "./ssh-driver.ts";
import { VmDriver } from "./vm/vm-driver.ts";

export interface DriverOptions {
  log?: (machine: string) => Logger;
  onProgress?: (line: string) => void;
  ephemeral?: boolean;
  /** ssh driver: lab secrets file (default $PATCHLAB_SECRETS_FILE, else <state>/secrets.yaml). */
  secretsFile?: string;
}

/** Registry key of a driver: containers per engine endpoint, VMs and servers per kind. */
export const dockerKey = (engine: Pick<EngineRef, "key">) => `docker:${engine.key}`;

export class Drivers {
  private readonly made = new Map<string, LabDriver>();

  constructor(private readonly opts: DriverOptions = {}) {}

  /** The driver of a kind; for docker, the default engine's. */
  get(kind: MachineDriver): LabDriver {
    if (kind === "docker") return this.docker(undefined);
    let d = this.made.get(kind);
    if (!d) {
      const o = this.opts;
      d =
        kind === "ssh"
          ? new SshDriver({ ...(o.log ? { log: o.log } : {}), ...(o.onProgress ? { onProgress: o.onProgress } : {}), ...(o.secretsFile ? { secretsFile: o.secretsFile } : {}) })
          : new VmDriver({ ...(o.log ? { log: o.log } : {}), ...(o.onProgress ? { onProgress: o.onProgress } : {}), ephemeral: !!o.ephemeral });
      this.made.set(kind, d);
    }
    return d;
  }

  /** One DockerDriver (and one guarded engine client) per engine endpoint; undefined: the default engine. */
  docker(engine: EngineRef | undefined): DockerDriver {
    const key = dockerKey(engine ?? { key: defaultEngineUrl() });
    let d = this.made.get(key) as DockerDriver | undefined;
    if (!d) {
      const o = this.opts;
      d = new DockerDriver(dockerFor(engine), { ...(o.log ? { log: o.log } : {}), ...(o.onProgress ? { onProgress: o.onProgress } : {}), ephemeral: !!o.ephemeral, ...(engine && !engine.isDefault ? { engine } : {}) });
      this.made.set(key, d);
    }
    return d;
  }

  /** The driver that runs this machine (a bare machine spec, without its lab, is on the default engine). */
  driverFor(machine: Machine | MachineHandle): LabDriver {
    if (!("spec" in machine)) return this.get(driverOf(machine));
    return this.driverOfSpec(machine.lab, machine.spec);
  }

  driverOfSpec(lab: Lab, spec: Machine): LabDriver {
    return isDockerMachine(spec) ? this.docker(engineOf(lab, spec)) : this.get(driverOf(spec));
  }

  /**
   * Every machine's handle as its own driver makes it (a VM's loopback address, an ssh
   * machine's host), in lab-file order: what a mixed lab passes as UpOptions.machines.
   */
  async handles(lab: Lab): Promise<MachineHandle[]> {
    const byKind = new Map<MachineDriver, MachineHandle[]>();
    for (const kind of this.kindsOf(lab).keys()) byKind.set(kind, await this.get(kind).handles(lab));
    return lab.machines.map((spec) => {
      const h = byKind.get(driverOf(spec))!.find((x) => x.spec.name === spec.name);
      if (!h) throw new Error(`driver ${driverOf(spec)} has no handle for machine ${spec.name}`);
      return h;
    });
  }

  /** The driver kinds a lab uses, each with its machines (in lab-file order). */
  kindsOf(lab: Lab): Map<MachineDriver, Machine[]> {
    const out = new Map<MachineDriver, Machine[]>();
    for (const m of lab.machines) out.set(driverOf(m), [...(out.get(driverOf(m)) ?? []), m]);
    return out;
  }

  /**
   * The drivers a lab uses, each with its machines: one per engine for containers (the
   * default engine first, then site engines in lab-file order), then VMs, then servers.
   */
  groupsOf(lab: Lab): { key: string; driver: LabDriver; machines: Machine[] }[] {
    const out = new Map<string, { key: string; driver: LabDriver; machines: Machine[] }>();
    const add = (key: string, driver: () => LabDriver, m: Machine) => {
      const g = out.get(key) ?? { key, driver: driver(), machines: [] };
      g.machines.push(m);
      out.set(key, g);
    };
    const docker = lab.machines.filter(isDockerMachine);
    for (const m of docker.filter((x) => engineOf(lab, x).isDefault)) add(dockerKey({ key: defaultEngineUrl() }), () => this.docker(undefined), m);
    for (const m of docker) {
      const e = engineOf(lab, m);
      if (!e.isDefault) add(dockerKey(e), () => this.docker(e), m);
    }
    for (const kind of ["vm", "ssh"] as const) for (const m of lab.machines.filter((x) => driverOf(x) === kind)) add(kind, () => this.get(kind), m);
    return [...out.values()];
  }
}

let shared: Drivers | undefined;

/** The driver for a machine from a process-wide registry (commands that need no options). */
export function driverFor(machine: Machine | MachineHandle, registry: Drivers = (shared ??= new Drivers())): LabDriver {
  return registry.driverFor(machine);
}
