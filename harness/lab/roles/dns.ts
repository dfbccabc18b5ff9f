// dns: bind9 authoritative for the lab domain. Provision writes the lab's zone (an A record
// per machine, SOA/NS, www -> the web machine) and its reverse zones (a PTR per machine, one
// in-addr.arpa zone per /24 the machines sit in) and reloads named; ready when the dns
// machine resolves its own name to its own address.
import { createHash } from "node:crypto";
import { LabError } from "../../core/errors.ts";
import { command } from "../../readiness/wait.ts";
import type { MachineHandle } from "../types.ts";
import { machinesWithRole, mustExec, pollUntil, shq, waitBooted, wwwTarget } from "./common.ts";
import type { RoleModule } from "./types.ts";

export const ZONE_DIR = "/etc/bind";
export const NAMED_CONF_LOCAL = "/etc/bind/named.conf.local";

export interface ReverseZone {
  /** e.g. 77.30.172.in-addr.arpa */
  name: string;
  file: string;
  zone: string;
}

export interface LabZone {
  domain: string;
  serial: number;
  /** Contents of the zone file. */
  zone: string;
  /** Contents of named.conf.local declaring the zones. */
  namedConfLocal: string;
  zoneFile: string;
  reverse: ReverseZone[];
}

/** "172.30.77.14" -> { zone: "77.30.172.in-addr.arpa", label: "14" } (a /24 per reverse zone). */
export function reverseOf(ip: string): { zone: string; label: string } {
  const [a, b, c, d] = ip.split(".");
  return { zone: `${c}.${b}.${a}.in-addr.arpa`, label: d! };
}

/** Pure: the lab's zone from its machines. Same machines -> byte-identical output (serial included). */
export function labZone(domain: string, machines: MachineHandle[]): LabZone {
  const byName = [...machines].sort((a, b) => (a.spec.name < b.spec.name ? -1 : a.spec.name > b.spec.name ? 1 : 0));
  const dns = machinesWithRole(machines, "dns");
  const nsNames = (dns.length ? dns : byName.slice(0, 1)).map((m) => `${m.spec.name}.${domain}.`);
  const records: string[] = [];
  for (const ns of nsNames) records.push(`@\tIN\tNS\t${ns}`);
  for (const m of byName) if (m.ip) records.push(`${m.spec.name}\tIN\tA\t${m.ip}`);
  const www = wwwTarget(machines);
  if (www) records.push(`www\tIN\tCNAME\t${www.spec.name}.${domain}.`);
  const body = records.join("\n");
  // PTR records, grouped into one reverse zone per /24.
  const ptrs = new Map<string, string[]>();
  for (const m of byName) {
    if (!m.ip) continue;
    const r = reverseOf(m.ip);
    (ptrs.get(r.zone) ?? ptrs.set(r.zone, []).get(r.zone)!).push(`${r.label}\tIN\tPTR\t${m.spec.name}.${domain}.`);
  }
  const reverseBodies = [...ptrs.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  // Serial from the content: stable when nothing changes, different when anything does.
  const content = [body, ...reverseBodies.map(([z, rs]) => `${z}\n${rs.join("\n")}`)].join("\n");
  const serial = (parseInt(createHash("sha256").update(content).digest("hex").slice(0, 8), 16) % 2_000_000_000) + 1;
  const head = (origin: string) =>
    `; Zone for ${origin}, written by patchlab (dns role provision). Do not edit: it is regenerated.\n` +
    `$ORIGIN ${origin}.\n$TTL 60\n` +
    `@\tIN\tSOA\t${nsNames[0]} hostmaster.${domain}. ( ${serial} 3600 600 86400 60 )\n`;
  const zone = head(domain) + body + "\n";
  const zoneFile = `${ZONE_DIR}/db.${domain}`;
  const ns = nsNames.map((n) => `@\tIN\tNS\t${n}`).join("\n");
  const reverse = reverseBodies.map(([name, rs]) => ({ name, file: `${ZONE_DIR}/db.${name}`, zone: head(name) + ns + "\n" + rs.join("\n") + "\n" }));
  const declare = (name: string, file: string) => `zone "${name}" {\n    type primary;\n    file "${file}";\n};\n`;
  const namedConfLocal = `// Written by patchlab (dns role provision).\n` + declare(domain, zoneFile) + reverse.map((r) => declare(r.name, r.file)).join("");
  return { domain, serial, zone, namedConfLocal, zoneFile, reverse };
}

function resolvesCmd(fqdn: string, ip: string): string {
  return `test "$(dig @127.0.0.1 +short +time=1 +tries=1 ${shq(fqdn)} A)" = ${shq(ip)}`;
}

export const dnsRole: RoleModule = {
  role: "dns",
  // named logs to syslog unless the image configures a file channel: this is where one goes.
  logs: [{ path: "/var/log/named/*.log" }],
  readiness: (m) => [command(resolvesCmd(m.fqdn, m.ip), `dig @127.0.0.1 ${m.fqdn} answers ${m.ip}`)],
  async provision(conn, m, ctx) {
    await waitBooted(conn);
    const z = labZone(m.lab.domain, ctx.machines);
    await conn.upload([
      { path: z.zoneFile, content: z.zone, mode: 0o644 },
      ...z.reverse.map((r) => ({ path: r.file, content: r.zone, mode: 0o644 })),
      { path: NAMED_CONF_LOCAL, content: z.namedConfLocal, mode: 0o644 },
    ]);
    await mustExec(conn, "zone check", ["named-checkzone", "-q", z.domain, z.zoneFile]);
    for (const r of z.reverse) await mustExec(conn, `reverse zone check ${r.name}`, ["named-checkzone", "-q", r.name, r.file]);
    await mustExec(conn, "named config check", ["named-checkconf", "/etc/bind/named.conf"]);
    // rndc reload re-reads named.conf and every changed zone; restart when named is down.
    await mustExec(conn, "named reload", "rndc reload >/dev/null 2>&1 || /etc/init.d/named restart");
    const ok = await pollUntil(async () => (await conn.exec(resolvesCmd(m.fqdn, m.ip), { timeoutMs: 5000 })).exitCode === 0, 15_000, 200);
    if (!ok) {
      throw new LabError("machine-start", `named on ${m.spec.name} does not answer ${m.fqdn} after loading the lab zone`, "look at `docker logs` of the machine and `named-checkzone` of the zone file", { machine: m.spec.name });
    }
  },
};
