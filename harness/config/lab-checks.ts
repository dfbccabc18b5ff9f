// Lab rules a schema cannot express: names and addresses must be unique, addresses
// must fit the lab subnet, images must have a recipe, and suites need a client.
// These run on the raw document (even if the schema failed) so one pass reports all.
import fs from "node:fs";
import path from "node:path";
import type { ConfigError } from "../core/errors.ts";
import { choices, imageDirFor, listImages } from "./config-root.ts";
import {
  AUTO_ASSIGN_OFFSET,
  autoAssignRoom,
  contains,
  firstHostOf,
  formatIpv4,
  formatSubnet,
  lastHostOf,
  parseIpv4,
  parseSubnet,
  prefixFor,
  PRIVATE_RANGES,
  reservedRole,
  WIDEST_LAB_PREFIX,
  overlaps,
  within,
  type Subnet,
} from "./ipv4.ts";
import { checkLabSuites } from "../run/suites-for.ts";
import { defaultEngineUrl, parseEngineUrl } from "../lab/drivers/docker-engines.ts";
import type { Lab } from "./schemas.ts";
import { problemAt } from "./problem.ts";
import { repoRoot } from "../core/paths.ts";
import { closest } from "./suggest.ts";
import { displayPath, type YamlSource } from "./yaml-source.ts";

interface RawMachine {
  index: number;
  name: string | undefined;
  raw: Record<string, unknown>;
}

export function checkLab(source: YamlSource, data: unknown, configRoot: string): ConfigError[] {
  if (!isRecord(data)) return [];
  const machines: RawMachine[] = (Array.isArray(data["machines"]) ? data["machines"] : [])
    .map((raw: unknown, index: number) => ({ index, raw, name: isRecord(raw) && typeof raw["name"] === "string" ? raw["name"] : undefined }))
    .filter((m): m is RawMachine => isRecord(m.raw));
  return [
    ...checkLabName(source, data, configRoot),
    ...checkUniqueNames(source, machines),
    ...checkAddresses(source, data, machines),
    ...checkImages(source, machines, configRoot),
    ...checkClient(source, data, machines),
    ...checkSites(source, data, machines),
    ...checkExtraSuites(source, machines),
    ...checkLabSuites(source, data), // every role and application must have a suite
  ];
}

/**
 * Extra suites are code the harness runs: they must live beside the lab file (or below it),
 * or in the repository's suites/ folder, never be reached by an absolute path or by `..` out of it.
 */
function checkExtraSuites(source: YamlSource, machines: RawMachine[]): ConfigError[] {
  const labDir = path.dirname(source.file);
  const suitesDir = path.join(repoRoot, "suites");
  const out: ConfigError[] = [];
  for (const m of machines) {
    const list = Array.isArray(m.raw["suites"]) ? m.raw["suites"] : [];
    list.forEach((s: unknown, j: number) => {
      if (typeof s !== "string") return; // the schema reports it
      const abs = path.resolve(labDir, s);
      const ok = !path.isAbsolute(s) && (isInside(labDir, abs) || isInside(suitesDir, abs));
      if (!ok) {
        out.push(
          problemAt(
            source,
            ["machines", m.index, "suites", j],
            `suite ${s} is outside the lab's folder (it resolves to ${displayPath(abs)})`,
            `put the spec file beside the lab file (or in a folder below it, or in the repository's suites/) and name it by a relative path: a suite is code patchlab runs`,
          ),
        );
      }
    });
  }
  return out;
}

function isInside(dir: string, p: string): boolean {
  const r = path.relative(dir, p);
  return r !== "" && !r.startsWith("..") && !path.isAbsolute(r);
}

/** A lab under <configRoot>/labs is found by its file name, so that must be its name too. */
function checkLabName(source: YamlSource, data: Record<string, unknown>, configRoot: string): ConfigError[] {
  const name = data["name"];
  const inLabsDir = path.dirname(source.file) === path.join(configRoot, "labs");
  const stem = path.basename(source.file).replace(/\.ya?ml$/, "");
  if (!inLabsDir || typeof name !== "string" || name === stem) return [];
  return [
    problemAt(source, ["name"], `lab name "${name}" differs from its file name "${stem}"`, `rename the lab to \`name: ${stem}\` or the file to ${name}.yaml, so \`patchlab lab up ${stem}\` finds what it names`),
  ];
}

function checkUniqueNames(source: YamlSource, machines: RawMachine[]): ConfigError[] {
  const first = new Map<string, number>();
  const out: ConfigError[] = [];
  for (const m of machines) {
    if (m.name === undefined) continue;
    const prev = first.get(m.name);
    if (prev === undefined) {
      first.set(m.name, m.index);
      continue;
    }
    out.push(
      problemAt(
        source,
        ["machines", m.index, "name"],
        `duplicate machine name "${m.name}" (first defined at line ${lineOf(source, ["machines", prev, "name"])})`,
        "give every machine a unique name: it becomes the container's host name and DNS label",
        { omitValue: true },
      ),
    );
  }
  return out;
}

/**
 * Each lab network is checked with the machines that live on it: the default engine's
 * (`network.subnet`) and each site engine's (`sites.<site>.subnet`).
 */
function checkAddresses(source: YamlSource, data: Record<string, unknown>, machines: RawMachine[]): ConfigError[] {
  const network = data["network"];
  const sites = siteEntries(data);
  const onSite = (m: RawMachine) => siteOf(m, sites);
  const out = checkSubnetOf(source, isRecord(network) ? network["subnet"] : undefined, ["network", "subnet"], machines.filter((m) => !onSite(m)));
  for (const [site, entry] of sites) {
    out.push(...checkSubnetOf(source, entry["subnet"], ["sites", site, "subnet"], machines.filter((m) => onSite(m) === site)));
  }
  return out;
}

function checkSubnetOf(source: YamlSource, subnetText: unknown, subnetAt: (string | number)[], machines: RawMachine[]): ConfigError[] {
  const subnet = parseSubnet(subnetText);
  if (!subnet) return []; // the schema reports a bad or missing subnet
  const out: ConfigError[] = [];
  const shown = formatSubnet(subnet);
  const range = `${formatIpv4(firstHostOf(subnet))} to ${formatIpv4(lastHostOf(subnet))}`;

  if (!PRIVATE_RANGES.some((r) => within(subnet, r))) {
    out.push(
      problemAt(
        source,
        subnetAt,
        `subnet ${shown} is not a private range: a lab network takes the routes of its subnet on this host, so a public range (RFC 1918 says 10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16 are private) would cut the host off from real addresses`,
        "choose a subnet inside 10.0.0.0/8, 172.16.0.0/12 or 192.168.0.0/16 that no other network on this host uses, e.g. `subnet: 172.30.90.0/24`",
        { omitValue: true },
      ),
    );
    return out; // addresses in a refused subnet are not worth checking
  }
  if (subnet.prefix < WIDEST_LAB_PREFIX) {
    out.push(
      problemAt(
        source,
        subnetAt,
        `subnet ${shown} is wider than /${WIDEST_LAB_PREFIX}: it would take ${subnet.size} addresses of this host's private space for a lab`,
        `use a /${WIDEST_LAB_PREFIX} or narrower, sized for the machines (a /24 holds 244), e.g. \`subnet: ${formatIpv4(subnet.network)}/24\``,
        { omitValue: true },
      ),
    );
  }
  if (subnet.hostBitsSet) {
    out.push(problemAt(source, subnetAt, `subnet has host bits set; the network address is ${formatIpv4(subnet.network)}`, `write \`subnet: ${shown}\``));
  }
  const fixed = machines.map((m) => parseIpv4(m.raw["ip"])).filter((n): n is number => n !== undefined);
  const auto = machines.filter((m) => m.raw["ip"] === undefined || m.raw["ip"] === null).length;
  const room = autoAssignRoom(subnet, fixed);
  if (auto > room) {
    const bigger = parseSubnet(`${formatIpv4(subnet.network)}/${prefixFor(machines.length)}`)!;
    out.push(
      problemAt(
        source,
        ["machines"],
        `${auto} machines without \`ip:\` do not fit in subnet ${shown}: addresses are assigned from ${formatIpv4(subnet.network + AUTO_ASSIGN_OFFSET)} up and only ${room} are free`,
        `use a larger subnet, e.g. \`subnet: ${formatSubnet(bigger)}\`, or remove machines`,
        { omitValue: true },
      ),
    );
  }

  const used = new Map<number, RawMachine>();
  for (const m of machines) {
    const text = m.raw["ip"];
    const ip = parseIpv4(text);
    if (ip === undefined) continue; // absent (assigned later) or malformed (the schema reports it)
    const at = ["machines", m.index, "ip"];
    const remedy = `use a free address from ${range}, or remove \`ip:\` to have one assigned`;
    if (!contains(subnet, ip)) {
      out.push(problemAt(source, at, `ip ${String(text)} is outside the lab subnet ${shown}`, remedy, { omitValue: true }));
      continue;
    }
    const reserved = reservedRole(subnet, ip);
    if (reserved) {
      out.push(problemAt(source, at, `ip ${String(text)} is the subnet's ${reserved} address, which no machine can use`, remedy, { omitValue: true }));
      continue;
    }
    const prev = used.get(ip);
    if (prev) {
      const who = prev.name !== undefined ? `machine '${prev.name}'` : `machines[${prev.index}]`;
      out.push(problemAt(source, at, `ip ${String(text)} is already used by ${who} (line ${lineOf(source, ["machines", prev.index, "ip"])})`, remedy, { omitValue: true }));
      continue;
    }
    used.set(ip, m);
  }
  return out;
}

function checkImages(source: YamlSource, machines: RawMachine[], configRoot: string): ConfigError[] {
  let available: string[] | undefined; // listed once, and only when an image is missing
  const out: ConfigError[] = [];
  for (const m of machines) {
    const image = m.raw["image"];
    // Malformed names are the schema's to report; never probe paths like "../x".
    if (typeof image !== "string" || !/^[a-z][a-z0-9-]{0,30}$/.test(image)) continue;
    if (isDirectory(imageDirFor(configRoot, image))) continue;
    available ??= listImages(configRoot);
    const guess = closest(image, available);
    const imagesDir = displayPath(path.join(configRoot, "images"));
    out.push(
      problemAt(
        source,
        ["machines", m.index, "image"],
        `unknown image "${image}": no recipe directory ${imagesDir}/${image}/`,
        `${guess ? `did you mean "${guess}"? ` : ""}${choices(available, `no image recipes exist under ${imagesDir}/ yet`)}; or create ${imagesDir}/${image}/`,
        { omitValue: true },
      ),
    );
  }
  return out;
}

/** Suites check servers from a client machine; a lab without one cannot check anything. */
function checkClient(source: YamlSource, data: Record<string, unknown>, machines: RawMachine[]): ConfigError[] {
  if (machines.length === 0) return []; // the schema reports an empty or missing machine list
  const hasClient = machines.some((m) => {
    const roles = m.raw["roles"];
    // A bare string is a type error reported by the schema; read it as meant so we do not pile on.
    return Array.isArray(roles) ? roles.includes("client") : roles === "client";
  });
  if (hasClient) return [];
  const name = typeof data["name"] === "string" ? ` '${data["name"]}'` : "";
  return [
    problemAt(
      source,
      ["machines"],
      `lab${name} has no machine with the client role`,
      "add a machine with `roles: [client]` (image: client): suites need a vantage point to check the servers from",
      { omitValue: true },
    ),
  ];
}

function lineOf(source: YamlSource, at: (string | number)[]): string {
  return String(source.locate(at)?.line ?? "?");
}

function isDirectory(p: string): boolean {
  try {
    return fs.statSync(p).isDirectory();
  } catch {
    return false;
  }
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === "object" && !Array.isArray(v);
}

/** `sites:` entries that are objects, by site name. */
function siteEntries(data: Record<string, unknown>): [string, Record<string, unknown>][] {
  const sites = data["sites"];
  if (!isRecord(sites)) return [];
  return Object.entries(sites).filter((e): e is [string, Record<string, unknown>] => isRecord(e[1]));
}

/** The site entry a machine's containers follow: docker machines whose `site:` has an entry. */
function siteOf(m: RawMachine, sites: [string, Record<string, unknown>][]): string | undefined {
  const driver = m.raw["driver"];
  if (driver !== undefined && driver !== "docker") return undefined; // VMs and servers stay with the default engine's network
  const site = m.raw["site"];
  return typeof site === "string" && sites.some(([s]) => s === site) ? site : undefined;
}

/**
 * Site engines: endpoints that parse, TLS only for tcp and with files that exist, no entry
 * that no machine uses (a typo would silently leave machines on the default engine), subnets
 * that do not collide, and a client on every engine that has servers: lab networks are
 * internal, so suites reach a machine only from a client on the same engine.
 */
function checkSites(source: YamlSource, data: Record<string, unknown>, machines: RawMachine[]): ConfigError[] {
  const sites = siteEntries(data);
  if (sites.length === 0) return [];
  const out: ConfigError[] = [];
  const used = [...new Set(machines.map((m) => m.raw["site"]).filter((s): s is string => typeof s === "string"))];
  const labDir = path.dirname(source.file);
  const engineOfSite = new Map<string, string>();
  for (const [site, entry] of sites) {
    if (!used.includes(site)) {
      const guess = closest(site, used);
      out.push(
        problemAt(
          source,
          ["sites", site],
          `site "${site}" has an engine but no machine has \`site: ${site}\``,
          `${guess ? `did you mean "${guess}"? ` : ""}name a site the lab's machines use (${used.join(", ") || "none"}), or remove the entry`,
          { omitValue: true },
        ),
      );
    }
    const engine = entry["engine"];
    if (typeof engine !== "string") continue; // the schema reports it
    const parsed = parseEngineUrl(engine);
    if (typeof parsed === "string") {
      out.push(problemAt(source, ["sites", site, "engine"], `engine ${JSON.stringify(engine)} of site ${site} is not an engine endpoint: ${parsed}`, "write unix:///path/to/docker.sock, tcp://host:port (with tls: for TLS) or ssh://user@host", { omitValue: true }));
      continue;
    }
    if (engine === defaultEngineUrl()) {
      out.push(problemAt(source, ["sites", site, "engine"], `site ${site} names the default engine (${engine}); the lab network on one engine has one subnet`, `remove sites.${site} to run its machines on the default engine, or name another engine`, { omitValue: true }));
      continue;
    }
    engineOfSite.set(site, engine);
    const tls = entry["tls"];
    if (isRecord(tls)) {
      if (parsed.protocol !== "tcp") {
        out.push(problemAt(source, ["sites", site, "tls"], `tls is for tcp:// engines; site ${site}'s engine is ${parsed.protocol}://`, `remove sites.${site}.tls, or use a tcp://host:port engine`, { omitValue: true }));
      }
      for (const f of ["ca", "cert", "key"] as const) {
        const file = tls[f];
        if (typeof file !== "string" || file === "") continue; // the schema reports it
        const abs = path.resolve(labDir, file);
        if (!isFile(abs)) {
          out.push(problemAt(source, ["sites", site, "tls", f], `TLS ${f} file ${displayPath(abs)} of site ${site} does not exist`, `put the engine's ${f === "ca" ? "CA certificate" : f === "cert" ? "client certificate" : "client key"} there, or fix the path (relative to the lab file)`, { omitValue: true }));
        }
      }
    } else if (parsed.protocol === "tcp" && parsed.port === 2376) {
      // 2376 is the engine's TLS port: plain HTTP there fails with an unhelpful message later.
      out.push(problemAt(source, ["sites", site], `engine ${engine} of site ${site} is the Docker TLS port but the site has no tls:`, `add tls: { ca, cert, key } with the engine's client files`, { omitValue: true }));
    }
  }

  // Subnets: sites sharing an engine share its network; different networks must not overlap.
  const networks: { at: (string | number)[]; owner: string; engine: string; subnet: Subnet }[] = [];
  const network = data["network"];
  const labSubnet = parseSubnet(isRecord(network) ? network["subnet"] : undefined);
  if (labSubnet) networks.push({ at: ["network", "subnet"], owner: "network.subnet (the default engine)", engine: defaultEngineUrl(), subnet: labSubnet });
  for (const [site, entry] of sites) {
    const subnet = parseSubnet(entry["subnet"]);
    const engine = engineOfSite.get(site);
    if (!subnet || !engine) continue;
    const at = ["sites", site, "subnet"];
    const sameEngine = networks.find((n) => n.engine === engine);
    if (sameEngine) {
      if (sameEngine.subnet.network !== subnet.network || sameEngine.subnet.prefix !== subnet.prefix) {
        out.push(problemAt(source, at, `site ${site} shares engine ${engine} with ${sameEngine.owner} but names another subnet (${formatSubnet(subnet)} vs ${formatSubnet(sameEngine.subnet)})`, `one engine holds one lab network: give both sites \`subnet: ${formatSubnet(sameEngine.subnet)}\``, { omitValue: true }));
      }
      continue;
    }
    const clash = networks.find((n) => overlaps(n.subnet, subnet));
    if (clash) {
      out.push(problemAt(source, at, `subnet ${formatSubnet(subnet)} of site ${site} overlaps ${clash.owner} (${formatSubnet(clash.subnet)})`, "give every engine's lab network its own subnet: two engines on one host cannot both route one subnet", { omitValue: true }));
      continue;
    }
    networks.push({ at, owner: `sites.${site}.subnet`, engine, subnet });
  }

  // A client on every engine with servers.
  const groups = new Map<string, { where: (string | number)[]; label: string; client: boolean; servers: string[] }>();
  for (const m of machines) {
    const site = siteOf(m, sites);
    const engine = site ? engineOfSite.get(site) : defaultEngineUrl();
    if (!engine) continue; // a bad endpoint was reported above
    const g = groups.get(engine) ?? { where: site ? ["sites", site] : ["machines"], label: site ? `engine ${engine} (site ${site})` : "the default engine", client: false, servers: [] };
    groups.set(engine, g);
    const roles = Array.isArray(m.raw["roles"]) ? m.raw["roles"] : [m.raw["roles"]];
    if (roles.includes("client")) g.client = true;
    if (roles.some((r) => r !== "client")) g.servers.push(m.name ?? `machines[${m.index}]`);
  }
  for (const g of groups.values()) {
    if (g.client || g.servers.length === 0) continue;
    out.push(
      problemAt(
        source,
        g.where,
        `${g.label} runs ${g.servers.join(", ")} but no client machine: suites check a machine from a client on its own engine (lab networks are internal; nothing routes between engines)`,
        `add a machine with \`roles: [client]\` (image: client) on the same site`,
        { omitValue: true },
      ),
    );
  }
  return out;
}

function isFile(p: string): boolean {
  try {
    return fs.statSync(p).isFile();
  } catch {
    return false;
  }
}

/** The lab as the drivers see it: site TLS paths resolved against the lab file's folder. */
export function withAbsoluteSitePaths(lab: Lab, labDir: string): Lab {
  if (!lab.sites) return lab;
  const sites = Object.fromEntries(
    Object.entries(lab.sites).map(([k, s]) => [k, s.tls ? { ...s, tls: { ca: path.resolve(labDir, s.tls.ca), cert: path.resolve(labDir, s.tls.cert), key: path.resolve(labDir, s.tls.key) } } : s]),
  );
  return { ...lab, sites };
}
