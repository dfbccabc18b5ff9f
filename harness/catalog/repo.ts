// The lab update server's apt repository: the .debs a batch needs (each verified against
// Debian's signed sha256 before it is used), a Packages index made of the signed index's own
// stanzas, and a Release signed with the lab key. Published into the updates machine over
// the harness's connection; only missing .debs are copied.
import fs from "node:fs";
import zlib from "node:zlib";
import type { Connection } from "../lab/types.ts";
import { LabError } from "../core/errors.ts";
import { debCachePath } from "./import.ts";
import { fetchVerified, sha256 } from "./cache.ts";
import type { LabKey } from "./lab-key.ts";
import { clearsign } from "./lab-key.ts";

export const REPO_ROOT = "/srv/apt";
export const REPO_SUITE = "lab";

export interface RepoPackage {
  stanza: Record<string, string>;
  url: string;
}

const FIELD_ORDER = ["Package", "Source", "Version", "Installed-Size", "Maintainer", "Architecture", "Replaces", "Provides", "Depends", "Pre-Depends", "Recommends", "Suggests", "Conflicts", "Breaks", "Description", "Multi-Arch", "Homepage", "Description-md5", "Section", "Priority", "Filename", "Size", "MD5sum", "SHA256"];

export function stanzaText(s: Record<string, string>): string {
  const keys = [...FIELD_ORDER.filter((k) => k in s), ...Object.keys(s).filter((k) => !FIELD_ORDER.includes(k))];
  return keys.map((k) => `${k}: ${s[k]!.replace(/\n/g, "\n ")}`).join("\n") + "\n";
}

/** The repository's index files for these packages (deduplicated by Filename). */
export function repoIndex(pkgs: RepoPackage[], now = new Date()): { packages: string; release: string } {
  const seen = new Map<string, RepoPackage>();
  for (const p of pkgs) seen.set(p.stanza["Filename"]!, p);
  const sorted = [...seen.values()].sort((a, b) => (a.stanza["Package"]! + a.stanza["Version"]).localeCompare(b.stanza["Package"]! + b.stanza["Version"]));
  const packages = sorted.map((p) => stanzaText(p.stanza)).join("\n");
  const gz = zlib.gzipSync(packages);
  const release = [
    "Origin: patchlab",
    "Label: patchlab lab update server",
    `Suite: ${REPO_SUITE}`,
    `Codename: ${REPO_SUITE}`,
    `Date: ${now.toUTCString()}`,
    "Architectures: amd64",
    "Components: main",
    "Description: packages a patchlab batch needs, from Debian's signed indexes",
    "SHA256:",
    ` ${sha256(packages)} ${Buffer.byteLength(packages)} main/binary-amd64/Packages`,
    ` ${sha256(gz)} ${gz.length} main/binary-amd64/Packages.gz`,
    "",
  ].join("\n");
  return { packages, release };
}

/** Download (or take from the cache) every .deb, verified against its signed sha256. */
export async function fetchDebs(pkgs: RepoPackage[]): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (const p of pkgs) {
    const f = p.stanza["Filename"]!;
    if (out.has(f)) continue;
    out.set(f, await fetchVerified(p.url, { sha256: p.stanza["SHA256"]!, size: Number(p.stanza["Size"]) }, debCachePath(p.stanza["SHA256"]!, f)));
  }
  return out;
}

/** Publish into the updates machine: missing .debs first, then the index, the signed InRelease last. */
export async function publishRepo(conn: Connection, pkgs: RepoPackage[], key: LabKey): Promise<{ uploaded: number; total: number }> {
  const local = await fetchDebs(pkgs);
  const have = await conn.exec(["sh", "-c", `cd ${REPO_ROOT} 2>/dev/null && find pool -type f -name '*.deb' -exec sha256sum {} + 2>/dev/null || true`], { timeoutMs: 120_000 });
  const present = new Set(have.stdout.split("\n").map((l) => l.trim().split(/\s+/)).filter((x) => x.length === 2).map(([h, f]) => `${f}\u0000${h}`));
  const missing = [...local].filter(([f]) => !present.has(`${f}\u0000${pkgs.find((p) => p.stanza["Filename"] === f)!.stanza["SHA256"]}`));
  for (let i = 0; i < missing.length; i += 20) {
    await conn.upload(missing.slice(i, i + 20).map(([f, file]) => ({ path: `${REPO_ROOT}/${f}`, content: fs.readFileSync(file), mode: 0o644 })));
  }
  const { packages, release } = repoIndex(pkgs);
  const inRelease = await clearsign(key, release);
  const dist = `${REPO_ROOT}/dists/${REPO_SUITE}`;
  await conn.upload([
    { path: `${dist}/main/binary-amd64/Packages`, content: packages, mode: 0o644 },
    { path: `${dist}/main/binary-amd64/Packages.gz`, content: zlib.gzipSync(packages), mode: 0o644 },
    { path: `${dist}/Release`, content: release, mode: 0o644 },
  ]);
  await conn.upload([{ path: `${dist}/InRelease`, content: inRelease, mode: 0o644 }]);
  // The server holds exactly the verified bytes: check what landed there.
  const sums = [...local.keys()].map((f) => `${pkgs.find((p) => p.stanza["Filename"] === f)!.stanza["SHA256"]}  ${f}`).join("\n") + "\n";
  const check = await conn.exec(["sh", "-c", `cd ${REPO_ROOT} && sha256sum -c --quiet`], { stdin: sums, timeoutMs: 300_000 });
  if (check.exitCode !== 0) {
    throw new LabError("harness", `the update server's copies do not match the signed sha256: ${(check.stdout + check.stderr).trim().slice(0, 300)}`, "retry; if it persists recreate the updates machine (`patchlab lab down` then `lab up`)", { machine: conn.machine });
  }
  return { uploaded: missing.length, total: local.size };
}
