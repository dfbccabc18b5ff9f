// dns: bind9 authoritative for the lab domain. Provision writes the lab's zone (an A record
// per machine, SOA/NS, www -> the web machine) and reloads named; ready when the dns machine
// resolves its own name to its own address.
import { createHash } from "node:crypto";
import { LabError } from "../../core/errors.ts";
import { command } from "../../readiness/wait.ts";
import type { MachineHandle } from "../types.ts";
import { machinesWithRole, mustExec, pollUntil, shq, waitBooted, wwwTarget } from "./common.ts";
import type { RoleModule } from "./types.ts";

export const ZONE_DIR = "/etc/bind";
export const NAMED_CONF_LOCAL = "/etc/bind/named.conf.local";

export interface LabZone {
  domain: string;
  serial: number;
  /** Contents of the zone file. */
  zone: string;
  /** Contents of named.conf.local declaring the zone. */
  namedConfLocal: string;
  zoneFile: string;
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
  // Serial from the content: stable when nothing changes, different when anything does.
  const serial = (parseInt(createHash("sha256").update(body).digest("hex").slice(0, 8), 16) % 2_000_000_000) + 1;
  const zone =
    `; Zone for ${domain}, written by patchlab (dns role provision). Do not edit: it is regenerated.\n` +
    `$ORIGIN ${domain}.\n$TTL 60\n` +
    `@\tIN\tSOA\t${nsNames[0]} hostmaster.${domain}. ( ${serial} 3600 600 86400 60 )\n` +
    body + "\n";
  const zoneFile = `${ZONE_DIR}/db.${domain}`;
  const namedConfLocal =
    `// Written by patchlab (dns role provision).\n` +
    `zone "${domain}" {\n    type primary;\n    file "${zoneFile}";\n};\n`;
  return { domain, serial, zone, namedConfLocal, zoneFile };
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
      { path: NAMED_CONF_LOCAL, content: z.namedConfLocal, mode: 0o644 },
    ]);
    await mustExec(conn, "zone check", ["named-checkzone", "-q", z.domain, z.zoneFile]);
    await mustExec(conn, "named config check", ["named-checkconf", "/etc/bind/named.conf"]);
    // rndc reload re-reads named.conf and every changed zone; restart when named is down.
    await mustExec(conn, "named reload", "rndc reload >/dev/null 2>&1 || /etc/init.d/named restart");
    const ok = await pollUntil(async () => (await conn.exec(resolvesCmd(m.fqdn, m.ip), { timeoutMs: 5000 })).exitCode === 0, 15_000, 200);
    if (!ok) {
      throw new LabError("machine-start", `named on ${m.spec.name} does not answer ${m.fqdn} after loading the lab zone`, "look at `docker logs` of the machine and `named-checkzone` of the zone file", { machine: m.spec.name });
    }
  },
};
