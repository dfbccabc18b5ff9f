// Test helper: machine handles for a small lab, without any engine.
import { Lab } from "../../config/schemas.ts";
import type { MachineHandle } from "../types.ts";

export function fakeLab(machines: { name: string; roles: string[]; ip: string }[], domain = "lab.test"): { lab: Lab; handles: MachineHandle[] } {
  const lab = Lab.parse({
    name: "unit",
    domain,
    network: { subnet: "172.30.99.0/24" },
    machines: machines.map((m) => ({
      name: m.name,
      image: m.roles[0],
      roles: m.roles,
      owner: { name: "t", contact: "t@example.org" },
      site: "hq",
      criticality: "low",
      ip: m.ip,
    })),
  });
  const handles = lab.machines.map((spec) => ({
    spec,
    lab,
    container: `patchlab-${lab.name}-${spec.name}`,
    ip: spec.ip!,
    fqdn: `${spec.name}.${lab.domain}`,
  }));
  return { lab, handles };
}
