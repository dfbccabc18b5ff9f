// The update's own changelog (usr/share/doc/<pkg>/changelog.Debian.gz inside the .deb):
// where Debian's security team records the CVEs an upload fixes and its urgency.
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import zlib from "node:zlib";
import tar from "tar-stream";
import { LabError } from "../core/errors.ts";
import { FeedError } from "./errors.ts";

const run = promisify(execFile);

export interface ChangelogEntry {
  source: string;
  version: string;
  distributions: string[];
  urgency: string;
  cves: string[];
  date: string;
  text: string;
}

const HEADER = /^(\S+) \(([^)]+)\) ([^;]+);(.*)$/;
const TRAILER = /^ -- (.+?) <[^>]*>\s+(.+)$/;

export function parseChangelog(text: string): ChangelogEntry[] {
  const out: ChangelogEntry[] = [];
  let cur: ChangelogEntry | undefined;
  for (const line of text.split("\n")) {
    const h = HEADER.exec(line);
    if (h && !line.startsWith(" ")) {
      const urgency = /urgency=([a-z]+)/i.exec(h[4]!)?.[1]?.toLowerCase() ?? "low";
      cur = { source: h[1]!, version: h[2]!, distributions: h[3]!.trim().split(/\s+/), urgency, cves: [], date: "", text: "" };
      out.push(cur);
      continue;
    }
    if (!cur) continue;
    const t = TRAILER.exec(line);
    if (t) {
      const d = new Date(t[2]!.trim());
      cur.date = Number.isNaN(d.getTime()) ? t[2]!.trim() : d.toISOString();
      cur = undefined;
      continue;
    }
    cur.text += line + "\n";
    for (const m of line.matchAll(/CVE-\d{4}-\d{4,}/g)) if (!cur.cves.includes(m[0])) cur.cves.push(m[0]);
  }
  return out;
}

/** changelog.Debian(.<arch>).gz from a .deb's data, or undefined when the package ships none (doc dir symlinked). */
export async function changelogFromDeb(debFile: string): Promise<string | undefined> {
  let tarBuf: Buffer;
  try {
    tarBuf = (await run("dpkg-deb", ["--fsys-tarfile", debFile], { encoding: "buffer", maxBuffer: 1 << 30 })).stdout;
  } catch (e) {
    const err = e as NodeJS.ErrnoException & { stderr?: Buffer };
    if (err.code === "ENOENT") throw new LabError("dependency-missing", "dpkg-deb is not installed on the harness", "install it: `apt-get install dpkg`");
    throw new FeedError("format", `${debFile}: not a readable .deb: ${String(err.stderr ?? err.message).trim()}`, "the cached file is damaged: delete it and import again", debFile);
  }
  const found: { name: string; data: Buffer }[] = [];
  await new Promise<void>((resolve, reject) => {
    const ex = tar.extract();
    ex.on("entry", (header, stream, next) => {
      const chunks: Buffer[] = [];
      const wanted = header.type === "file" && /usr\/share\/doc\/[^/]+\/changelog\.Debian(\.[a-z0-9]+)?\.gz$/.test(header.name);
      stream.on("data", (c: unknown) => wanted && chunks.push(c as Buffer));
      stream.on("end", () => {
        if (wanted) found.push({ name: header.name, data: Buffer.concat(chunks) });
        next();
      });
      stream.resume();
    });
    ex.on("finish", resolve);
    ex.on("error", reject);
    ex.end(tarBuf);
  });
  // A binNMU ships changelog.Debian.<arch>.gz for its own upload next to the source's one.
  const main = found.find((f) => /changelog\.Debian\.gz$/.test(f.name)) ?? found[0];
  return main ? zlib.gunzipSync(main.data).toString("utf8") : undefined;
}

/** Debian urgency, highest first (critical and emergency are the same level). */
export const URGENCIES = ["critical", "emergency", "high", "medium", "low"] as const;

export function highestUrgency(us: string[]): string {
  for (const u of URGENCIES) if (us.includes(u)) return u;
  return us[0] ?? "low";
}
