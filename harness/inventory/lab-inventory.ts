// Inventories of a running lab's machines, collected in parallel (one exec each). The update
// server (role updates) is lab infrastructure, not a system under test: it is left out.
import fs from "node:fs";
import YAML from "yaml";
import type { Lab } from "../config/schemas.ts";
import { ConfigError, LabError } from "../core/errors.ts";
import type { Connection, MachineHandle } from "../lab/types.ts";
import { collectInventory, type MachineInventory } from "./inventory.ts";

export const INFRASTRUCTURE_ROLES = ["updates"];
export const isInfrastructure = (m: MachineHandle) => m.spec.roles.every((r) => INFRASTRUCTURE_ROLES.includes(r));

/** The machines to scan: -m names and --machines-file lines (default: every machine but infrastructure). */
export function selectMachines(lab: Lab, all: MachineHandle[], names: string[] = [], machinesFile?: string): MachineHandle[] {
  const wanted = [...names];
  if (machinesFile) {
    if (!fs.existsSync(machinesFile)) throw new ConfigError(`machines file ${machinesFile} not found`, "give a file listing machine names, one per line (or a YAML list)", { field: "--machines-file", value: machinesFile });
    const text = fs.readFileSync(machinesFile, "utf8");
    const parsed: unknown = /^\s*-\s/m.test(text) || text.trim().startsWith("[") ? YAML.parse(text) : text.split("\n").map((l) => l.replace(/#.*/, "").trim()).filter(Boolean);
    if (!Array.isArray(parsed) || !parsed.every((x) => typeof x === "string")) {
      throw new ConfigError(`machines file ${machinesFile} is not a list of machine names`, "write one machine name per line", { file: machinesFile, field: "--machines-file" });
    }
    wanted.push(...parsed);
  }
  if (wanted.length === 0) return all.filter((m) => !isInfrastructure(m));
  const unknown = wanted.filter((n) => !all.some((m) => m.spec.name === n));
  if (unknown.length) {
    throw new ConfigError(`machine(s) ${unknown.join(", ")} not in lab ${lab.name}`, `use one of: ${all.map((m) => m.spec.name).join(", ")}`, { field: machinesFile ? "--machines-file" : "--machine", value: unknown.join(", ") });
  }
  return all.filter((m) => wanted.includes(m.spec.name));
}

export async function labInventories(
  machines: MachineHandle[],
  connect: (m: MachineHandle) => Connection,
  needs: { files?: string[]; commands?: string[] } = {},
): Promise<MachineInventory[]> {
  return Promise.all(
    machines.map(async (m) => {
      try {
        return await collectInventory(connect(m), m.spec.roles, needs);
      } catch (e) {
        if (e instanceof LabError && e.kind !== "exec") throw e;
        throw new LabError("exec", `could not read the inventory of ${m.spec.name}: ${(e as Error).message}`, `bring the lab up first: \`patchlab lab up ${m.lab.name}\``, { machine: m.spec.name }, { cause: e });
      }
    }),
  );
}
