// Machine addresses are fixed per lab (from the lab file, or assigned in order) so a
// restored machine comes back with the same IP and the DNS zone never goes stale.
import type { Lab } from "../config/schemas.ts";

function toInt(ip: string): number {
  return ip.split(".").reduce((n, o) => (n << 8) + Number(o), 0) >>> 0;
}
function toIp(n: number): string {
  return [24, 16, 8, 0].map((s) => (n >>> s) & 255).join(".");
}

export function subnetInfo(cidr: string): { network: number; size: number; gateway: string } {
  const [base, bits] = cidr.split("/");
  const size = 2 ** (32 - Number(bits));
  const network = (toInt(base!) & ~(size - 1)) >>> 0;
  return { network, size, gateway: toIp(network + 1) };
}

/** Map machine name -> IPv4: explicit `ip` wins; the rest take .10, .11, ... skipping taken ones. */
export function assignAddresses(lab: Lab): Map<string, string> {
  const { network } = subnetInfo(lab.network.subnet);
  const taken = new Set(lab.machines.flatMap((m) => (m.ip ? [m.ip] : [])));
  const out = new Map<string, string>();
  let next = network + 10;
  for (const m of lab.machines) {
    if (m.ip) { out.set(m.name, m.ip); continue; }
    while (taken.has(toIp(next))) next++;
    out.set(m.name, toIp(next));
    taken.add(toIp(next));
    next++;
  }
  return out;
}

export const containerName = (lab: string, machine: string) => `patchlab-${lab}-${machine}`;
export const networkName = (lab: string) => `patchlab-${lab}`;
export const fqdn = (lab: Lab, machine: string) => `${machine}.${lab.domain}`;
