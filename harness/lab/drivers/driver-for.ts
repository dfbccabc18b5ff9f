// Which LabDriver runs a machine: its `driver:` in the lab file (docker when absent). Drivers
// hold caches (sessions, the lab CA), so one registry makes each kind once and hands the same
// instance to every machine of that kind.
import type { Lab, Machine, MachineDriver } from "../../config/schemas.ts";
import { driverOf } from "../../config/schemas.ts";
import type { Logger } from "../../core/log.ts";
import type { LabDriver, MachineHandle } from "../types.ts";
import { DockerDriver } from "./docker-driver.ts";
import { docker } from "./docker-engine.ts";
import { SshDriver } from "./ssh-driver.ts";
import { VmDriver } from "./vm/vm-driver.ts";

export interface DriverOptions {
  log?: (machine: string) => Logger;
  onProgress?: (line: string) => void;
  ephemeral?: boolean;
  /** ssh driver: lab secrets file (default $PATCHLAB_SECRETS_FILE, else <state>/secrets.yaml). */
  secretsFile?: string;
}

export class Drivers {
  private readonly made = new Map<MachineDriver, LabDriver>();

  constructor(private readonly opts: DriverOptions = {}) {}

  get(kind: MachineDriver): LabDriver {
    let d = this.made.get(kind);
    if (!d) {
      const o = this.opts;
      d =
        kind === "ssh"
          ? new SshDriver({ ...(o.log ? { log: o.log } : {}), ...(o.onProgress ? { onProgress: o.onProgress } : {}), ...(o.secretsFile ? { secretsFile: o.secretsFile } : {}) })
          : kind === "vm"
            ? new VmDriver({ ...(o.log ? { log: o.log } : {}), ...(o.onProgress ? { onProgress: o.onProgress } : {}), ephemeral: !!o.ephemeral })
            : new DockerDriver(docker(), { ...(o.log ? { log: o.log } : {}), ...(o.onProgress ? { onProgress: o.onProgress } : {}), ephemeral: !!o.ephemeral });
      this.made.set(kind, d);
    }
    return d;
  }

  /** The driver that runs this machine. */
  driverFor(machine: Machine | MachineHandle): LabDriver {
    return this.get(driverOf("spec" in machine ? machine.spec : machine));
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
}

let shared: Drivers | undefined;

/** The driver for a machine from a process-wide registry (commands that need no options). */
export function driverFor(machine: Machine | MachineHandle, registry: Drivers = (shared ??= new Drivers())): LabDriver {
  return registry.driverFor(machine);
}
