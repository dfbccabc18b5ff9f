// Machine addresses are fixed per lab (from the lab file, or assigned in order) so a
// restored machine comes back with the same IP and the DNS zone never goes stale.
// The arithmetic and the assignment offset live in config/ipv4.ts, which the lab-file
// checks use too, so "fits in the subnet" and "gets an address" can never disagree.
import type { Lab } from "../config/schemas.ts";
import { AUTO_ASSIGN_OFFSET, formatIpv4, gatewayOf, parseSubnet } from "../config/ipv4.ts";

export function gatewayFor(cidr: string): string {
  return formatIpv4(gatewayOf(parseSubnet(cidr)!));
}

/** Map machine name -> IPv4: explicit `ip` wins; the rest take .10, .11, ... skipping taken ones. */
export function assignAddresses(lab: Lab): Map<string, string> {
  const subnet = parseSubnet(lab.network.subnet)!;
  const taken = new Set(lab.machines.flatMap((m) => (m.ip ? [m.ip] : [])));
  const out = new Map<string, string>();
  let next = subnet.network + AUTO_ASSIGN_OFFSET;
  for (const m of lab.machines) {
    if (m.ip) { out.set(m.name, m.ip); continue; }
    while (taken.has(formatIpv4(next))) next++;
    out.set(m.name, formatIpv4(next));
    taken.add(formatIpv4(next));
    next++;
  }
  return out;
}

export const containerName = (lab: string, machine: string) => `patchlab-${lab}-${machine}`;
export const networkName = (lab: string) => `patchlab-${lab}`;
export const fqdn = (lab: Lab, machine: string) => `${machine}.${lab.domain}`;
