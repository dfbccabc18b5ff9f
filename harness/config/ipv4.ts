// IPv4 subnet arithmetic for checking lab networks. The lab's Docker network reserves
// the network address, the gateway (.1, Docker's default) and the broadcast address.

export interface Subnet {
  /** Network address as an unsigned 32-bit number. */
  network: number;
  prefix: number;
  size: number;
  /** True when the text had host bits set (172.30.77.5/24). */
  hostBitsSet: boolean;
}

export function parseIpv4(text: unknown): number | undefined {
  if (typeof text !== "string") return undefined;
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(text);
  if (!m) return undefined;
  const parts = m.slice(1).map(Number);
  if (parts.some((p) => p > 255)) return undefined;
  return ((parts[0]! << 24) | (parts[1]! << 16) | (parts[2]! << 8) | parts[3]!) >>> 0;
}

export function formatIpv4(n: number): string {
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join(".");
}

export function parseSubnet(text: unknown): Subnet | undefined {
  if (typeof text !== "string") return undefined;
  const [addr, bits, extra] = text.split("/");
  const ip = parseIpv4(addr);
  const prefix = Number(bits);
  if (ip === undefined || extra !== undefined || !/^\d{1,2}$/.test(bits ?? "") || prefix > 32) return undefined;
  const size = 2 ** (32 - prefix);
  const network = prefix === 0 ? 0 : (ip & (~0 << (32 - prefix))) >>> 0;
  return { network, prefix, size, hostBitsSet: network !== ip };
}

export function formatSubnet(s: Subnet): string {
  return `${formatIpv4(s.network)}/${s.prefix}`;
}

export const gatewayOf = (s: Subnet): number => s.network + 1;
export const broadcastOf = (s: Subnet): number => s.network + s.size - 1;
export const firstHostOf = (s: Subnet): number => s.network + 2;
export const lastHostOf = (s: Subnet): number => s.network + s.size - 2;

export function contains(s: Subnet, ip: number): boolean {
  return ip >= s.network && ip <= broadcastOf(s);
}

/** Which reserved address `ip` is, if any. */
export function reservedRole(s: Subnet, ip: number): "network" | "gateway" | "broadcast" | undefined {
  if (ip === s.network) return "network";
  if (ip === gatewayOf(s)) return "gateway";
  if (ip === broadcastOf(s)) return "broadcast";
  return undefined;
}

/**
 * First address handed to a machine without `ip:`. Mirrors harness/lab/addressing.ts,
 * which assigns .10, .11, ... so .2-.9 stay free for fixed addresses.
 */
export const AUTO_ASSIGN_OFFSET = 10;

/**
 * How many machines without a fixed `ip:` the subnet still has room for: host
 * addresses from network+10 up to broadcast-1, minus fixed addresses in that range.
 */
export function autoAssignRoom(s: Subnet, fixed: readonly number[]): number {
  const first = s.network + AUTO_ASSIGN_OFFSET;
  const last = lastHostOf(s);
  if (first > last) return 0;
  const taken = new Set(fixed.filter((ip) => ip >= first && ip <= last)).size;
  return last - first + 1 - taken;
}

/** Smallest prefix length whose subnet holds `machines` auto-assigned machines. */
export function prefixFor(machines: number): number {
  let prefix = 30;
  while (prefix > 8 && 2 ** (32 - prefix) - 1 - AUTO_ASSIGN_OFFSET < machines) prefix--;
  return prefix;
}

/** The RFC 1918 private ranges: the only address space a lab network may take. */
export const PRIVATE_RANGES: readonly Subnet[] = ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"].map((t) => parseSubnet(t)!);

/** Whether all of `inner` lies inside `outer`. */
export function within(inner: Subnet, outer: Subnet): boolean {
  return inner.prefix >= outer.prefix && contains(outer, inner.network);
}

export function overlaps(a: Subnet, b: Subnet): boolean {
  return a.network <= broadcastOf(b) && b.network <= broadcastOf(a);
}

/** The widest lab network allowed: a /16 already holds 65 000 machines; wider only takes routes. */
export const WIDEST_LAB_PREFIX = 16;
