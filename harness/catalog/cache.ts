// The download cache for the Debian feed: index files and .debs, content-addressed by the
// sha256 the signed Release file gives, so a cached file is re-verified before every use and
// the same bytes are never downloaded twice (shared by every worktree through the state dir).
import { createHash } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { stateDir } from "../core/paths.ts";
import { FeedError } from "./errors.ts";

export const cacheDir = () => path.resolve(process.env.PATCHLAB_DEBIAN_CACHE ?? path.join(stateDir(), "debian-cache"));

export function sha256File(file: string): string {
  const h = createHash("sha256");
  const fd = fs.openSync(file, "r");
  try {
    const buf = Buffer.allocUnsafe(1 << 20);
    for (;;) {
      const n = fs.readSync(fd, buf, 0, buf.length, null);
      if (n <= 0) break;
      h.update(buf.subarray(0, n));
    }
  } finally {
    fs.closeSync(fd);
  }
  return h.digest("hex");
}

export const sha256 = (b: Buffer | string) => createHash("sha256").update(b).digest("hex");

/** Counts what came from the network, so callers (and tests) can tell a warm cache from a cold one. */
export const downloadStats = { files: 0, bytes: 0 };

export async function httpGet(url: string, timeoutMs = 120_000): Promise<Buffer> {
  let res: Response;
  try {
    res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
  } catch (e) {
    throw new FeedError("download", `could not fetch ${url}: ${(e as Error).message}`, "check that the mirror answers (deb.debian.org, or the --mirror given)", url);
  }
  if (!res.ok) {
    throw new FeedError("download", `${url} answered HTTP ${res.status}`, "check the mirror URL and the suite name; the archive may be mid-update, retry in a minute", url);
  }
  const body = Buffer.from(await res.arrayBuffer());
  downloadStats.files++;
  downloadStats.bytes += body.length;
  return body;
}

/**
 * A file whose sha256 is known from a signed index: from the cache when present and intact,
 * else downloaded, verified, and only then stored (atomically). Throws FeedError on mismatch,
 * leaving nothing behind.
 */
export async function fetchVerified(url: string, want: { sha256: string; size?: number }, rel: string): Promise<string> {
  const file = path.join(cacheDir(), rel);
  if (fs.existsSync(file)) {
    if (sha256File(file) === want.sha256) return file;
    // A damaged or tampered cache entry is never used: drop it and fetch again.
    fs.rmSync(file, { force: true });
  }
  const body = await httpGet(url);
  const got = sha256(body);
  if (got !== want.sha256 || (want.size !== undefined && body.length !== want.size)) {
    throw new FeedError(
      "hash",
      `${url}: sha256 ${got} (${body.length} bytes) does not match the signed index (${want.sha256}${want.size !== undefined ? `, ${want.size} bytes` : ""})`,
      "the mirror served other bytes than Debian signed: retry later or use another mirror; nothing was stored",
      url,
    );
  }
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const tmp = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, body);
  fs.renameSync(tmp, file);
  return file;
}

/** A cached file, re-verified against its signed sha256 before use. */
export function verifiedCached(rel: string, wantSha256: string): string | undefined {
  const file = path.join(cacheDir(), rel);
  if (!fs.existsSync(file)) return undefined;
  return sha256File(file) === wantSha256 ? file : undefined;
}
