// Machine addresses are fixed per lab (from the lab file, or assigned in order) so a
// restored machine comes back with the same IP and the DNS zone never goes stale.
// The arithmetic and the assignment offset live in config/ipv4.ts, which the lab-file
// checks use too, so "fits in the subnet" and "gets an address" can never disagree.
import { isDockerMachine, type Lab, type Machine } from "../config/schemas.ts";
import { AUTO_ASSIGN_OFFSET, formatIpv4, gatewayOf, parseSubnet } from "../config/ipv4.ts";

export function gatewayFor(cidr: string): string {
  return formatIpv4(gatewayOf(parseSubnet(cidr)!));
}

/** The subnet of the lab network a machine sits on: its site engine's, else the lab's. */
export function subnetOf(lab: Lab, m: Machine): string {
  return (isDockerMachine(m) ? lab.sites?.[m.site]?.subnet : undefined) ?? lab.network.subnet;
}

/**
 * Map machine name -> IPv4: explicit `ip` wins; the rest take .10, .11, ... of their own
 * network's subnet (each site engine has its own), skipping taken ones.
 */
export function assignAddresses(lab: Lab): Map<string, string> {
  const taken = new Set(lab.machines.flatMap((m) => (m.ip ? [m.ip] : [])));
  const next = new Map<string, number>();
  const out = new Map<string, string>();
  for (const m of lab.machines) {
    if (m.ip) { out.set(m.name, m.ip); continue; }
    const cidr = subnetOf(lab, m);
    let n = next.get(cidr) ?? parseSubnet(cidr)!.network + AUTO_ASSIGN_OFFSET;
    while (taken.has(formatIpv4(n))) n++;
    out.set(m.name, formatIpv4(n));
    taken.add(formatIpv4(n));
    next.set(cidr, n + 1);
  }
  return out;
}

export const containerName = (lab: string, machine: string) => `patchlab-${lab}-${machine}`;
export const networkName = (lab: string) => `patchlab-${lab}`;
export const fqdn = (lab: Lab, machine: string) => `${machine}.${lab.domain}`;
