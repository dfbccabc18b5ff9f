// `patchlab catalog import debian`: one catalog entry per source-package update in a signed
// suite that touches a package installed on some lab machine. Everything is verified before
// anything is written: the InRelease signature, the index hash, every .deb's sha256.
import path from "node:path";
import type { AptPatch, Severity } from "../config/schemas.ts";
import { ConfigError } from "../core/errors.ts";
import type { MachineInventory } from "../inventory/inventory.ts";
import { downloadStats, fetchVerified } from "./cache.ts";
import { catalogDir, entryFile, entryId, writeEntry } from "./catalog.ts";
import { changelogFromDeb, highestUrgency, parseChangelog, type ChangelogEntry } from "./changelog.ts";
import { compareDebVersions } from "./debversion.ts";
import { sourceOf, type Stanza } from "./deb822.ts";
import { FeedError } from "./errors.ts";
import { cachedRelease, defaultMirror, fetchRelease, packagesIndex, type SuiteName } from "./feed.ts";
import fs from "node:fs";

/** Debian urgency -> patchlab severity (the default; a policy may override it). */
export const URGENCY_SEVERITY: Record<string, Severity> = { critical: "critical", emergency: "critical", high: "important", medium: "moderate", low: "low" };

export interface ImportOptions {
  suite: SuiteName;
  mirror?: string;
  dir?: string;
  /** The lab machines' inventories: only updates to their packages are catalogued. */
  inventories: MachineInventory[];
  progress?: (line: string) => void;
  concurrency?: number;
}

export interface ImportedEntry {
  id: string;
  file: string;
  source: string;
  version: string;
  urgency: string;
  cves: string[];
  packages: number;
  machines: string[];
  change: "new" | "updated" | "unchanged";
}

export interface ImportResult {
  suite: SuiteName;
  mirror: string;
  indexDate: string;
  signedBy: string[];
  entries: ImportedEntry[];
  downloads: { files: number; bytes: number };
  ms: number;
}

interface Group {
  source: string;
  version: string;
  stanzas: Stanza[];
}

/** Binary packages of the index grouped by source package and source version (amd64 and all only). */
export function groupBySource(byName: Map<string, Stanza[]>): Map<string, Group> {
  const groups = new Map<string, Group>();
  for (const list of byName.values()) {
    for (const s of list) {
      if (!["amd64", "all"].includes(s["Architecture"] ?? "")) continue;
      const src = sourceOf(s);
      const key = `${src.name}\u0000${src.version}`;
      const g = groups.get(key) ?? { source: src.name, version: src.version, stanzas: [] };
      g.stanzas.push(s);
      groups.set(key, g);
    }
  }
  return groups;
}

async function mapLimit<T, R>(items: T[], n: number, fn: (t: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(n, items.length) }, async () => {
      while (next < items.length) {
        const i = next++;
        out[i] = await fn(items[i]!);
      }
    }),
  );
  return out;
}

/** The update's changelog, from its smallest binary package that ships one (all verified before use). */
async function changelogOf(g: Group, mirror: string): Promise<ChangelogEntry[]> {
  const bySize = [...g.stanzas].sort((a, b) => Number(a["Size"]) - Number(b["Size"]));
  for (const s of bySize.slice(0, 4)) {
    const sha = s["SHA256"];
    const filename = s["Filename"];
    if (!sha || !filename) throw new FeedError("format", `index entry ${s["Package"]} ${s["Version"]} has no SHA256/Filename`, "the index is malformed; retry later", mirror);
    const deb = await fetchVerified(`${mirror}/${filename}`, { sha256: sha, size: Number(s["Size"]) }, debCachePath(sha, filename));
    const text = await changelogFromDeb(deb);
    if (text) return parseChangelog(text);
  }
  return [];
}

/** Where a verified .deb lives in the cache (content-addressed: the name alone is not trusted). */
export const debCachePath = (sha256: string, filename: string) => path.join("debs", sha256.slice(0, 2), `${sha256}_${path.basename(filename)}`);

export async function importDebian(opts: ImportOptions): Promise<ImportResult> {
  const t0 = Date.now();
  const before = { ...downloadStats };
  if (opts.suite === "bookworm") {
    throw new ConfigError("bookworm itself is the lab's baseline, not a feed of updates", "import --suite bookworm-security or --suite bookworm-updates", { field: "--suite", value: opts.suite });
  }
  const mirror = opts.mirror ?? defaultMirror(opts.suite);
  const say = opts.progress ?? (() => {});
  const rel = await fetchRelease(opts.suite, mirror);
  say(`${opts.suite}: InRelease of ${rel.date} verified (${rel.signedBy.length} good signature(s))`);
  const idx = await packagesIndex(rel);
  // The lab's baseline (bookworm itself), to know which changelog entries an update brings.
  const mainMirror = defaultMirror("bookworm");
  const mainRel = (await cachedRelease("bookworm", mainMirror)) ?? (await fetchRelease("bookworm", mainMirror));
  const main = await packagesIndex(mainRel);

  const installedOn = new Map<string, Set<string>>();
  for (const inv of opts.inventories) for (const name of inv.packages.keys()) {
    const s = installedOn.get(name) ?? new Set<string>();
    s.add(inv.machine);
    installedOn.set(name, s);
  }
  const groups = [...groupBySource(idx.byName).values()].filter((g) => g.stanzas.some((s) => installedOn.has(s["Package"]!)));
  groups.sort((a, b) => a.source.localeCompare(b.source) || compareDebVersions(a.version, b.version));
  say(`${opts.suite}: ${groups.length} source update(s) touch packages installed on the lab; reading their changelogs`);

  const dir = opts.dir ?? catalogDir();
  const patches = await mapLimit(groups, opts.concurrency ?? 4, async (g) => {
    const log = await changelogOf(g, mirror);
    const top = log.find((e) => e.version === g.version) ?? log[0];
    const baseSrc = g.stanzas.map((s) => main.byName.get(s["Package"]!)?.[0]).find(Boolean);
    const base = baseSrc ? sourceOf(baseSrc).version : undefined;
    // What installing this update brings over the lab's baseline: every entry newer than it.
    let brought = log.filter((e) => compareDebVersions(e.version, g.version) <= 0 && (base === undefined ? e === top : compareDebVersions(e.version, base) > 0));
    // An update the baseline already carries (a later point release includes it): its own entry.
    if (brought.length === 0 && top) brought = [top];
    const urgency = highestUrgency((brought.length ? brought : top ? [top] : []).map((e) => e.urgency));
    const cves = [...new Set(brought.flatMap((e) => e.cves))].sort();
    const id = entryId(g.source, g.version);
    const patch: AptPatch = {
      id,
      title: `${g.source} ${g.version} (${opts.suite})`,
      vendor: "debian",
      severity: URGENCY_SEVERITY[urgency] ?? "moderate",
      advisory: `https://security-tracker.debian.org/tracker/source-package/${g.source}`,
      cves,
      restart: "none",
      kind: "apt",
      apt: {
        suite: opts.suite,
        source: g.source,
        version: g.version,
        ...(["low", "medium", "high", "emergency", "critical"].includes(urgency) ? { urgency: urgency as "low" } : {}),
        ...(top?.date ? { released: top.date } : {}),
        supersedes: brought.filter((e) => e.version !== g.version).map((e) => entryId(g.source, e.version)),
        packages: g.stanzas
          .map((s) => ({ name: s["Package"]!, version: s["Version"]!, architecture: s["Architecture"]!, sha256: s["SHA256"]!, size: Number(s["Size"]), filename: s["Filename"]! }))
          .sort((a, b) => a.name.localeCompare(b.name)),
      },
    };
    const machines = [...new Set(g.stanzas.flatMap((s) => [...(installedOn.get(s["Package"]!) ?? [])]))].sort();
    return { patch, machines, urgency };
  });

  // Only now, with everything verified, is anything written.
  const entries: ImportedEntry[] = patches.map(({ patch, machines, urgency }) => {
    const file = entryFile(dir, patch.apt.suite, patch.id);
    const old = fs.existsSync(file) ? fs.readFileSync(file, "utf8") : undefined;
    writeEntry(dir, patch);
    const change = old === undefined ? "new" : old === fs.readFileSync(file, "utf8") ? "unchanged" : "updated";
    return { id: patch.id, file, source: patch.apt.source, version: patch.apt.version, urgency, cves: patch.cves, packages: patch.apt.packages.length, machines, change };
  });
  return {
    suite: opts.suite,
    mirror,
    indexDate: rel.date,
    signedBy: rel.signedBy,
    entries,
    downloads: { files: downloadStats.files - before.files, bytes: downloadStats.bytes - before.bytes },
    ms: Date.now() - t0,
  };
}
