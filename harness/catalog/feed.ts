// Debian's signed feed: a suite's InRelease verified with Debian's archive keyring (gpgv; the
// data used is what gpgv says was signed, never the raw file), then its Packages index checked
// against the signed sha256. Mirrors are configurable so tests can serve a doctored copy.
import { execFile } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { promisify } from "node:util";
import { ConfigError, LabError } from "../core/errors.ts";
import { cacheDir, fetchVerified, httpGet, sha256, sha256File, verifiedCached } from "./cache.ts";
import { parseStanzas, releaseHashes, type Stanza } from "./deb822.ts";
import { FeedError } from "./errors.ts";

const run = promisify(execFile);

export const SUITES = ["bookworm-security", "bookworm-updates", "bookworm"] as const;
export type SuiteName = (typeof SUITES)[number];
export const ARCH = "amd64";
export const COMPONENT = "main";

export const DEFAULT_KEYRING = "/usr/share/keyrings/debian-archive-keyring.gpg";
export const keyring = () => process.env.PATCHLAB_DEBIAN_KEYRING ?? DEFAULT_KEYRING;

/** The archive a suite lives in: the security archive or the main one. Env overrides for tests and local mirrors. */
export function defaultMirror(suite: string): string {
  return suite.endsWith("-security")
    ? (process.env.PATCHLAB_DEBIAN_SECURITY_MIRROR ?? "http://deb.debian.org/debian-security")
    : (process.env.PATCHLAB_DEBIAN_MIRROR ?? "http://deb.debian.org/debian");
}

export function checkSuite(suite: string): SuiteName {
  if ((SUITES as readonly string[]).includes(suite)) return suite as SuiteName;
  throw new ConfigError(`unknown suite "${suite}"`, `use one of: ${SUITES.join(", ")}`, { field: "--suite", value: suite });
}

export function checkMirror(mirror: string): string {
  let u: URL;
  try {
    u = new URL(mirror);
  } catch {
    throw new ConfigError(`mirror "${mirror}" is not a URL`, "give an http(s) URL such as http://deb.debian.org/debian-security", { field: "--mirror", value: mirror });
  }
  if (u.protocol !== "http:" && u.protocol !== "https:") {
    throw new ConfigError(`mirror "${mirror}" is not http(s)`, "give an http(s) URL such as http://deb.debian.org/debian-security", { field: "--mirror", value: mirror });
  }
  return mirror.replace(/\/+$/, "");
}

export interface VerifiedRelease {
  suite: SuiteName;
  mirror: string;
  /** The signed text (what gpgv verified), parsed. */
  release: Stanza;
  hashes: Map<string, { sha256: string; size: number }>;
  date: string;
  validUntil?: string;
  /** Fingerprints of the keys whose signatures verified. */
  signedBy: string[];
  /** sha256 of the InRelease file as fetched. */
  inReleaseSha256: string;
}

/** Verifies a clearsigned file with gpgv; returns the signed text and the good signatures' key fingerprints. */
export async function gpgvVerify(file: string, keyringFile = keyring(), what = file): Promise<{ text: string; signedBy: string[] }> {
  if (!fs.existsSync(keyringFile)) {
    throw new LabError("dependency-missing", `keyring ${keyringFile} is missing`, "install it: `apt-get install debian-archive-keyring` (patchlab doctor --fix does)");
  }
  let stdout = "";
  let stderr = "";
  let code = 0;
  try {
    ({ stdout, stderr } = await run("gpgv", ["--status-fd", "2", "--keyring", keyringFile, "--output", "-", file], { maxBuffer: 64 << 20, encoding: "latin1" }));
  } catch (e) {
    const err = e as NodeJS.ErrnoException & { stdout?: string; stderr?: string; code?: number | string };
    if (err.code === "ENOENT") throw new LabError("dependency-missing", "gpgv is not installed on the harness", "install it: `apt-get install gpgv`");
    stdout = err.stdout ?? "";
    stderr = err.stderr ?? "";
    code = typeof err.code === "number" ? err.code : 1;
  }
  const status = stderr.split("\n").filter((l) => l.startsWith("[GNUPG:] "));
  const valid = status.filter((l) => l.startsWith("[GNUPG:] VALIDSIG ")).map((l) => l.split(" ")[2]!);
  const bad = status.filter((l) => /^\[GNUPG:\] (BADSIG|EXPKEYSIG|REVKEYSIG)/.test(l));
  // Like apt: one good signature by a trusted key is enough; a bad one anywhere is not.
  if (valid.length === 0 || bad.length > 0 || (code !== 0 && !status.some((l) => l.includes("NO_PUBKEY")))) {
    const human = stderr.split("\n").filter((l) => l && !l.startsWith("[GNUPG:]")).slice(0, 6).join(" | ");
    throw new FeedError(
      "signature",
      `${what}: signature verification failed${bad.length ? ` (${bad.map((b) => b.split(" ")[1]).join(", ")})` : valid.length ? "" : " (no good signature)"}: ${human || "gpgv exit " + code}`,
      `the index was not signed by a key in ${keyringFile}: the mirror is serving altered or stale data; nothing was imported. Retry later or use another mirror`,
    );
  }
  return { text: Buffer.from(stdout, "latin1").toString("utf8"), signedBy: valid };
}

const rfc2822 = (s: string | undefined) => (s ? new Date(s.replace(/ UTC$/, " GMT")) : undefined);

/** Fetch and verify a suite's InRelease. Stores the verified file (for later re-verification) only once it passed. */
export async function fetchRelease(suite: SuiteName, mirror = defaultMirror(suite), now = new Date()): Promise<VerifiedRelease> {
  const url = `${mirror}/dists/${suite}/InRelease`;
  const body = await httpGet(url, 60_000);
  const tmp = path.join(cacheDir(), "tmp", `InRelease.${process.pid}.${Date.now()}`);
  fs.mkdirSync(path.dirname(tmp), { recursive: true });
  fs.writeFileSync(tmp, body);
  try {
    const v = await verifyReleaseFile(tmp, suite, mirror, url);
    const until = rfc2822(v.validUntil);
    if (until && until.getTime() < now.getTime()) {
      throw new FeedError("expired", `${url}: the signed index expired on ${v.validUntil} (a replayed or stale mirror)`, "use an up-to-date mirror; nothing was imported", url);
    }
    const keep = releaseCachePath(suite, mirror);
    fs.mkdirSync(path.dirname(keep), { recursive: true });
    fs.renameSync(tmp, keep);
    return v;
  } finally {
    fs.rmSync(tmp, { force: true });
  }
}

function releaseCachePath(suite: string, mirror: string): string {
  return path.join(cacheDir(), "releases", sha256(mirror).slice(0, 12), suite, "InRelease");
}

async function verifyReleaseFile(file: string, suite: SuiteName, mirror: string, what: string): Promise<VerifiedRelease> {
  const { text, signedBy } = await gpgvVerify(file, keyring(), what);
  const release = parseStanzas(text)[0] ?? {};
  // The signature covers the suite name: a validly signed index of another suite is not this one.
  if (release["Codename"] !== suite && release["Suite"] !== suite) {
    throw new FeedError("format", `${what}: signed for suite "${release["Codename"] ?? release["Suite"]}", not ${suite}`, "check the mirror URL and --suite", what);
  }
  return {
    suite,
    mirror,
    release,
    hashes: releaseHashes(release),
    date: release["Date"] ?? "",
    ...(release["Valid-Until"] ? { validUntil: release["Valid-Until"] } : {}),
    signedBy,
    inReleaseSha256: sha256File(file),
  };
}

/** The last InRelease that passed verification, verified again (no network). */
export async function cachedRelease(suite: SuiteName, mirror = defaultMirror(suite)): Promise<VerifiedRelease | undefined> {
  const file = releaseCachePath(suite, mirror);
  if (!fs.existsSync(file)) return undefined;
  return verifyReleaseFile(file, suite, mirror, file);
}

export interface PackagesIndex {
  suite: SuiteName;
  mirror: string;
  /** Binary package name -> its stanzas (several versions possible), from the signed index. */
  byName: Map<string, Stanza[]>;
  sha256: string;
}

const indexCache = new Map<string, PackagesIndex>();

/** The suite's main/binary-amd64 Packages index, checked against the signed sha256 (cached by it). */
export async function packagesIndex(rel: VerifiedRelease): Promise<PackagesIndex> {
  const base = `${COMPONENT}/binary-${ARCH}/Packages`;
  const plain = rel.hashes.get(base);
  const xz = rel.hashes.get(`${base}.xz`);
  if (!plain || !xz) {
    throw new FeedError("format", `${rel.mirror}/dists/${rel.suite}/InRelease lists no ${base}(.xz)`, "the suite has no amd64 main index on this mirror", rel.mirror);
  }
  const memoKey = `${cacheDir()}\u0000${plain.sha256}`;
  const memo = indexCache.get(memoKey);
  if (memo) return memo;
  const rel_ = `indexes/${plain.sha256}`;
  let file = verifiedCached(rel_, plain.sha256);
  if (file) fs.utimesSync(file, new Date(), fs.statSync(file).mtime); // in use: keep it
  if (!file) {
    const byHash = rel.release["Acquire-By-Hash"] === "yes";
    const dir = `${rel.mirror}/dists/${rel.suite}/${COMPONENT}/binary-${ARCH}`;
    const url = byHash ? `${dir}/by-hash/SHA256/${xz.sha256}` : `${dir}/Packages.xz`;
    const xzFile = await fetchVerified(url, xz, `indexes/${xz.sha256}.xz`);
    const { stdout } = await run("xz", ["-dc", xzFile], { encoding: "buffer", maxBuffer: 512 << 20 });
    if (sha256(stdout) !== plain.sha256) {
      throw new FeedError("hash", `${url}: decompressed index does not match the signed sha256 of ${base}`, "the mirror served altered data; nothing was imported", url);
    }
    file = path.join(cacheDir(), rel_);
    fs.writeFileSync(`${file}.tmp`, stdout);
    fs.renameSync(`${file}.tmp`, file);
    fs.rmSync(xzFile, { force: true });
    pruneIndexes(7);
  }
  const byName = new Map<string, Stanza[]>();
  for (const s of parseStanzas(fs.readFileSync(file, "utf8"))) {
    const n = s["Package"];
    if (!n) continue;
    const list = byName.get(n);
    if (list) list.push(s);
    else byName.set(n, [s]);
  }
  const idx: PackagesIndex = { suite: rel.suite, mirror: rel.mirror, byName, sha256: plain.sha256 };
  indexCache.set(memoKey, idx);
  return idx;
}

/** Indexes superseded long ago only take room (a security index changes daily): drop those unused for `days`. */
function pruneIndexes(days: number): void {
  const dir = path.join(cacheDir(), "indexes");
  const cutoff = Date.now() - days * 86_400_000;
  for (const f of fs.existsSync(dir) ? fs.readdirSync(dir) : []) {
    const p = path.join(dir, f);
    try {
      if (fs.statSync(p).atimeMs < cutoff && fs.statSync(p).mtimeMs < cutoff) fs.rmSync(p, { force: true });
    } catch {
      /* another process pruned it */
    }
  }
}
