// What a machine has: its installed packages (dpkg's view), plus the file hashes and command
// results the catalog's detection rules ask for. Collected in one exec per machine.
import { LabError } from "../core/errors.ts";
import type { Connection } from "../lab/types.ts";
import { shq } from "../lab/roles/common.ts";

export interface InstalledPackage {
  version: string;
  arch: string;
  source: string;
}

export interface MachineInventory {
  machine: string;
  roles: string[];
  /** Installed (status "ii") packages by name. */
  packages: Map<string, InstalledPackage>;
  /** sha256 of requested files ("" when absent). */
  files: Map<string, string>;
  /** Results of requested commands. */
  commands: Map<string, { exitCode: number; stdout: string }>;
  collectedAt: string;
}

const SEP = "--patchlab-inventory--";

/** `${Package}\t${Version}\t${Architecture}\t${db:Status-Abbrev}\t${source:Package}` lines -> installed packages. */
export function parseDpkgQuery(out: string): Map<string, InstalledPackage> {
  const m = new Map<string, InstalledPackage>();
  for (const line of out.split("\n")) {
    const [name, version, arch, status, source] = line.split("\t");
    if (!name || !version || status?.trim() !== "ii") continue;
    m.set(name, { version, arch: arch ?? "", source: source?.trim() || name });
  }
  return m;
}

export const DPKG_QUERY = ["dpkg-query", "-W", "-f=${Package}\\t${Version}\\t${Architecture}\\t${db:Status-Abbrev}\\t${source:Package}\\n"];

export async function installedPackages(conn: Connection): Promise<Map<string, InstalledPackage>> {
  const r = await conn.exec(DPKG_QUERY, { timeoutMs: 60_000 });
  if (r.exitCode !== 0) {
    throw new LabError("exec", `dpkg-query on ${conn.machine} failed (exit ${r.exitCode}): ${r.stderr.slice(0, 300)}`, "the machine needs a working dpkg database", { machine: conn.machine });
  }
  return parseDpkgQuery(r.stdout);
}

/** Collect a machine's inventory: packages always, files and commands as the rules need. */
export async function collectInventory(conn: Connection, roles: string[], needs: { files?: string[]; commands?: string[] } = {}): Promise<MachineInventory> {
  const files = [...new Set(needs.files ?? [])];
  const commands = [...new Set(needs.commands ?? [])];
  const script = [
    DPKG_QUERY.map((a, i) => (i === 0 ? a : shq(a))).join(" "),
    ...files.map((f) => `echo ${SEP}; sha256sum ${shq(f)} 2>/dev/null | cut -d' ' -f1`),
    ...commands.map((c) => `echo ${SEP}; (${c}) 2>/dev/null; echo "${SEP}exit=$?"`),
  ].join("\n");
  const r = await conn.exec(["sh", "-c", script], { timeoutMs: 120_000 });
  const parts = r.stdout.split(`${SEP}\n`);
  const packages = parseDpkgQuery(parts[0] ?? "");
  if (packages.size === 0) {
    throw new LabError("exec", `inventory of ${conn.machine} found no installed packages (exit ${r.exitCode}): ${r.stderr.slice(0, 300)}`, "the machine needs a working dpkg database", { machine: conn.machine });
  }
  const fileMap = new Map<string, string>();
  files.forEach((f, i) => fileMap.set(f, (parts[1 + i] ?? "").trim()));
  const cmdMap = new Map<string, { exitCode: number; stdout: string }>();
  commands.forEach((c, i) => {
    const part = parts[1 + files.length + i] ?? "";
    const m = new RegExp(`${SEP}exit=(\\d+)\\n?$`).exec(part);
    cmdMap.set(c, { exitCode: m ? Number(m[1]) : -1, stdout: m ? part.slice(0, m.index) : part });
  });
  return { machine: conn.machine, roles, packages, files: fileMap, commands: cmdMap, collectedAt: new Date().toISOString() };
}
