// Checks of a lab against the host it is about to be created on, run before anything is
// created: its subnet must not take routes the host already has (another Docker network,
// a LAN) and its machines must fit the host's cores and memory. A 401-machine lab on a
// 2-core host once left the engine so busy that `docker ps` hung for 13 minutes.
import fs from "node:fs";
import os from "node:os";
import type Docker from "dockerode";
import type { ConfigError } from "../core/errors.ts";
import { ConfigErrors } from "../core/errors.ts";
import { formatSubnet, overlaps, parseSubnet, type Subnet } from "./ipv4.ts";
import { formatBytes, positiveIntFromEnv } from "./limits.ts";
import { fileProblem, problemAt } from "./problem.ts";
import { displayPath, type YamlSource } from "./yaml-source.ts";
import type { Lab } from "./schemas.ts";

/** Machines one core keeps at solo speed while idle-ish lab services run (measured: 6 machines ~ 0.1 core idle). */
export const MACHINES_PER_CORE = 16;
/** Memory set aside per machine: the heaviest role (PostgreSQL, DokuWiki) peaks near 100 MB during suites. */
export const MEMORY_PER_MACHINE = 256 << 20;
/** Memory kept for the host, the engine and the harness itself. */
export const HOST_RESERVE = 1 << 30;
export const MAX_MACHINES_ENV = "PATCHLAB_MAX_MACHINES";

export interface HostRoute {
  iface: string;
  subnet: Subnet;
}
export interface EngineNetwork {
  name: string;
  id: string;
  subnets: string[];
  /** Host interface of a bridge network (its routes sit on it). */
  bridge?: string;
}
export interface HostFacts {
  cores: number;
  memoryBytes: number;
  /** The host's routes, except the default route. */
  routes: HostRoute[];
  /** The engine's networks; undefined when the engine was not asked (it did not answer). */
  networks: EngineNetwork[] | undefined;
}

export interface LabToCheck {
  lab: Lab;
  file: string;
  source?: YamlSource;
}

/** How many machines this host holds: by cores and by memory, or the override. */
export function hostCapacity(facts: Pick<HostFacts, "cores" | "memoryBytes">): { machines: number; why: string; overridden: boolean } {
  const override = positiveIntFromEnv(MAX_MACHINES_ENV);
  if (override !== undefined) return { machines: override, why: `${MAX_MACHINES_ENV}=${override}`, overridden: true };
  const byCores = facts.cores * MACHINES_PER_CORE;
  const byMemory = Math.max(0, Math.floor((facts.memoryBytes - HOST_RESERVE) / MEMORY_PER_MACHINE));
  return {
    machines: Math.min(byCores, byMemory),
    why: `${facts.cores} core(s) x ${MACHINES_PER_CORE} = ${byCores}; ${formatBytes(facts.memoryBytes)} memory less ${formatBytes(HOST_RESERVE)} for the host, ${formatBytes(MEMORY_PER_MACHINE)} per machine = ${byMemory}`,
    overridden: false,
  };
}

export function hostFitProblems(target: LabToCheck, facts: HostFacts, ownNetworkName: string): ConfigError[] {
  const { lab } = target;
  const shown = displayPath(target.file);
  const at = (field: (string | number)[], message: string, remedy: string) =>
    target.source ? problemAt(target.source, field, message, remedy, { omitValue: true }) : fileProblem(shown, message, remedy, { field: field.join(".") });
  const out: ConfigError[] = [];

  const cap = hostCapacity(facts);
  if (lab.machines.length > cap.machines) {
    out.push(
      at(
        ["machines"],
        `lab has ${lab.machines.length} machines, more than this host holds: at most ${cap.machines} (${cap.why})`,
        `split the lab into smaller labs, or run it on a bigger host; if you know this host can take it, set ${MAX_MACHINES_ENV}=${lab.machines.length}`,
      ),
    );
  }

  const subnet = parseSubnet(lab.network.subnet);
  if (!subnet) return out; // the schema refused it already
  const own = facts.networks?.find((n) => n.name === ownNetworkName);
  const engineBridges = new Set((facts.networks ?? []).map((n) => n.bridge).filter(Boolean));
  const remedy = (taken: string) =>
    `choose another \`network.subnet\` for lab ${lab.name} inside 10.0.0.0/8, 172.16.0.0/12 or 192.168.0.0/16 that does not overlap ${taken} (\`ip route\` and \`docker network ls\` show what is taken)`;
  for (const n of facts.networks ?? []) {
    if (n.name === ownNetworkName) continue; // the lab's own network, from an earlier `lab up`
    for (const text of n.subnets) {
      const other = parseSubnet(text);
      if (other && overlaps(subnet, other)) {
        out.push(at(["network", "subnet"], `subnet ${formatSubnet(subnet)} overlaps Docker network "${n.name}" (${text})`, remedy(text)));
      }
    }
  }
  for (const r of facts.routes) {
    // The lab's own bridge carries its own route; other engine networks were reported above.
    if ((own?.bridge && r.iface === own.bridge) || engineBridges.has(r.iface)) continue;
    // Without the engine's list, a bridge with exactly this subnet is most likely our own network.
    if (facts.networks === undefined && r.iface.startsWith("br-") && r.subnet.network === subnet.network && r.subnet.prefix === subnet.prefix) continue;
    if (overlaps(subnet, r.subnet)) {
      out.push(at(["network", "subnet"], `subnet ${formatSubnet(subnet)} overlaps this host's route to ${formatSubnet(r.subnet)} on ${r.iface}`, remedy(formatSubnet(r.subnet))));
    }
  }
  return out;
}

/** The host's IPv4 routes from /proc/net/route (little-endian hex), without the default route. */
export function parseProcRoutes(text: string): HostRoute[] {
  const out: HostRoute[] = [];
  for (const line of text.split("\n").slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f.length < 8) continue;
    const dest = leHex(f[1]!);
    const mask = leHex(f[7]!);
    if (dest === undefined || mask === undefined || mask === 0) continue;
    const prefix = 32 - Math.log2((~mask >>> 0) + 1);
    if (!Number.isInteger(prefix)) continue;
    out.push({ iface: f[0]!, subnet: { network: dest, prefix, size: 2 ** (32 - prefix), hostBitsSet: false } });
  }
  return out;
}

function leHex(h: string): number | undefined {
  if (!/^[0-9A-Fa-f]{8}$/.test(h)) return undefined;
  const n = parseInt(h, 16);
  return (((n & 0xff) << 24) | (((n >>> 8) & 0xff) << 16) | (((n >>> 16) & 0xff) << 8) | (n >>> 24)) >>> 0;
}

export async function engineNetworks(docker: Docker): Promise<EngineNetwork[]> {
  const nets = await docker.listNetworks();
  return nets.map((n) => ({
    name: n.Name,
    id: n.Id,
    subnets: (n.IPAM?.Config ?? []).map((c) => c.Subnet).filter((s): s is string => typeof s === "string"),
    ...(n.Driver === "bridge" ? { bridge: n.Options?.["com.docker.network.bridge.name"] ?? `br-${n.Id.slice(0, 12)}` } : {}),
  }));
}

export async function gatherHostFacts(docker: Docker | undefined): Promise<HostFacts> {
  let routes: HostRoute[] = [];
  try {
    routes = parseProcRoutes(fs.readFileSync("/proc/net/route", "utf8"));
  } catch {
    /* not Linux: the engine's own check on network create still applies */
  }
  let networks: EngineNetwork[] | undefined;
  if (docker) networks = await engineNetworks(docker).catch(() => undefined);
  return { cores: os.availableParallelism?.() ?? os.cpus().length, memoryBytes: os.totalmem(), routes, networks };
}

/**
 * Refuse (ConfigErrors, exit 3) a lab this host cannot take, before anything is created.
 * `docker` undefined or not answering: the engine's networks are not checked (the command
 * fails on the engine next anyway).
 */
export async function checkLabFitsHost(target: LabToCheck, docker: Docker | undefined, ownNetworkName: string, facts?: HostFacts): Promise<void> {
  const problems = hostFitProblems(target, facts ?? (await gatherHostFacts(docker)), ownNetworkName);
  if (problems.length) throw new ConfigErrors(problems);
}
