// Debian control-file (deb822) parsing: Release/InRelease, Packages indexes, dependency fields.
import type { DebRelation } from "./debversion.ts";

export type Stanza = Record<string, string>;

/** Paragraphs of `Field: value` lines; continuation lines (leading space) join the value with "\n". */
export function parseStanzas(text: string): Stanza[] {
  const out: Stanza[] = [];
  let cur: Stanza = {};
  let last: string | undefined;
  for (const line of text.split("\n")) {
    if (line.trim() === "") {
      if (Object.keys(cur).length) out.push(cur);
      cur = {};
      last = undefined;
      continue;
    }
    if (line[0] === " " || line[0] === "\t") {
      if (last) cur[last] += "\n" + line.slice(1);
      continue;
    }
    const i = line.indexOf(":");
    if (i <= 0) continue;
    last = line.slice(0, i);
    cur[last] = line.slice(i + 1).trim();
  }
  if (Object.keys(cur).length) out.push(cur);
  return out;
}

export interface DepAtom {
  name: string;
  arch?: string;
  rel?: DebRelation;
  version?: string;
}
/** One dependency: any of its alternatives satisfies it. */
export type DepGroup = DepAtom[];

/** `a (>= 1), b | c:any, d [amd64]` -> groups of alternatives (arch qualifiers kept, restrictions dropped). */
export function parseDepends(field: string | undefined): DepGroup[] {
  if (!field) return [];
  return field
    .split(",")
    .map((g) => g.trim())
    .filter(Boolean)
    .map((g) =>
      g.split("|").map((alt) => {
        const m = /^\s*([a-z0-9][a-z0-9+.-]*)(?::([a-z0-9-]+))?\s*(?:\(\s*(<<|<=|=|>=|>>|<|>)\s*([^)\s]+)\s*\))?/.exec(alt.trim());
        if (!m) return { name: alt.trim() };
        // `<` and `>` are obsolete spellings of `<=` and `>=`.
        const rel = m[3] === "<" ? "<=" : m[3] === ">" ? ">=" : (m[3] as DebRelation | undefined);
        return { name: m[1]!, ...(m[2] ? { arch: m[2] } : {}), ...(rel ? { rel, version: m[4]! } : {}) };
      }),
    );
}

export function formatDepAtom(a: DepAtom): string {
  return `${a.name}${a.rel ? ` (${a.rel} ${a.version})` : ""}`;
}

/** `Source: name (version)` or absent (source = package, same version). */
export function sourceOf(s: Stanza): { name: string; version: string } {
  const f = s["Source"];
  if (!f) return { name: s["Package"]!, version: s["Version"]! };
  const m = /^(\S+)(?:\s+\(([^)]+)\))?/.exec(f);
  return { name: m?.[1] ?? s["Package"]!, version: m?.[2] ?? s["Version"]! };
}

/** The SHA256 section of a Release file: path -> { sha256, size }. */
export function releaseHashes(release: Stanza): Map<string, { sha256: string; size: number }> {
  const out = new Map<string, { sha256: string; size: number }>();
  for (const line of (release["SHA256"] ?? "").split("\n")) {
    const m = /^\s*([0-9a-f]{64})\s+(\d+)\s+(\S+)\s*$/.exec(line);
    if (m) out.set(m[3]!, { sha256: m[1]!, size: Number(m[2]) });
  }
  return out;
}
