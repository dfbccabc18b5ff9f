// A machine's state fingerprint: installed packages, hashes of watched files, listening
// sockets. Equal fingerprints before a run and after its restore prove the restore exact.
import type { Connection, Fingerprint } from "./types.ts";
import { LabError } from "../core/errors.ts";

/** Paths whose content is machine state. Engine-managed files (hosts, resolv.conf) are not. */
export const DEFAULT_WATCHED = ["/etc", "/usr/local", "/srv", "/var/www", "/usr/share/dokuwiki"];
const ENGINE_MANAGED = new Set(["/etc/hosts", "/etc/hostname", "/etc/resolv.conf", "/etc/mtab"]);

const SEP = "--patchlab-fingerprint--";
/** 127.0.0.11 as /proc/net/tcp writes it (little-endian hex). */
const DOCKER_DNS_HEX = "0B00007F";

function script(paths: string[]): string {
  const quoted = paths.map((p) => `'${p.replace(/'/g, "")}'`).join(" ");
  return [
    "dpkg-query -W -f='${Package}\\t${Version}\\t${db:Status-Abbrev}\\n'",
    `echo ${SEP}`,
    `for p in ${quoted}; do [ -e "$p" ] && find "$p" -xdev -type f -print0; done | sort -z | xargs -0 -r sha256sum`,
    `echo ${SEP}`,
    "cat /proc/net/tcp /proc/net/tcp6 2>/dev/null | awk '$4==\"0A\" {print \"tcp\", $2}'",
    "cat /proc/net/udp /proc/net/udp6 2>/dev/null | awk '$4==\"07\" {print \"udp\", $2}'",
  ].join("\n");
}

export function parseFingerprint(out: string): Fingerprint {
  const [pk = "", files = "", socks = ""] = out.split(SEP + "\n");
  const packages: Record<string, string> = {};
  for (const line of pk.split("\n")) {
    const [name, version, status] = line.split("\t");
    // Only installed packages (ii): removed-but-configured ones are state too, so keep "rc".
    if (name && version !== undefined) packages[name] = status?.trim() === "ii" ? version : `${version} (${status?.trim()})`;
  }
  const fileHashes: Record<string, string> = {};
  for (const line of files.split("\n")) {
    const m = /^([0-9a-f]{64})\s+(.+)$/.exec(line);
    if (m && !ENGINE_MANAGED.has(m[2]!)) fileHashes[m[2]!] = m[1]!;
  }
  const listening = new Set<string>();
  for (const line of socks.split("\n")) {
    const m = /^(tcp|udp) ([0-9A-F]+):([0-9A-F]{4})$/.exec(line.trim());
    // 127.0.0.11 is Docker's embedded DNS resolver, on random ports per container: engine state.
    if (m && m[2] !== DOCKER_DNS_HEX) listening.add(`${m[1]}/${parseInt(m[3]!, 16)}`);
  }
  return { packages, files: fileHashes, listening: [...listening].sort() };
}

export async function fingerprint(conn: Connection, paths: string[] = DEFAULT_WATCHED): Promise<Fingerprint> {
  const r = await conn.exec(["bash", "-c", script(paths)], { timeoutMs: 60_000 });
  if (r.exitCode !== 0) {
    throw new LabError("exec", `fingerprint of ${conn.machine} failed (exit ${r.exitCode}): ${r.stderr.slice(0, 300)}`, "the image needs bash, dpkg-query, find, sha256sum and awk", { machine: conn.machine });
  }
  return parseFingerprint(r.stdout);
}

export interface FingerprintDiff {
  equal: boolean;
  /** Human lines: "package nginx: 1.22.1-9 -> 1.22.1-9+deb12u1", "file /etc/x: changed". */
  differences: string[];
}

export function diffFingerprints(a: Fingerprint, b: Fingerprint): FingerprintDiff {
  const differences: string[] = [];
  const diffMap = (kind: string, x: Record<string, string>, y: Record<string, string>) => {
    for (const k of new Set([...Object.keys(x), ...Object.keys(y)])) {
      if (x[k] === y[k]) continue;
      if (x[k] === undefined) differences.push(`${kind} ${k}: added`);
      else if (y[k] === undefined) differences.push(`${kind} ${k}: removed`);
      else differences.push(kind === "package" ? `package ${k}: ${x[k]} -> ${y[k]}` : `${kind} ${k}: changed`);
    }
  };
  diffMap("package", a.packages, b.packages);
  diffMap("file", a.files, b.files);
  const la = new Set(a.listening), lb = new Set(b.listening);
  for (const s of la) if (!lb.has(s)) differences.push(`socket ${s}: no longer listening`);
  for (const s of lb) if (!la.has(s)) differences.push(`socket ${s}: newly listening`);
  return { equal: differences.length === 0, differences: differences.sort() };
}
