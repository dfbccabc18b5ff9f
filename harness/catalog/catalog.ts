// The catalog: one apt patch manifest per source-package update, written by `catalog import`
// under <catalog>/debian/<suite>/<id>.yaml, so an entry can go straight into a batch.
import fs from "node:fs";
import path from "node:path";
import YAML from "yaml";
import { loadPatch } from "../config/loader.ts";
import { AptPatch, type Patch } from "../config/schemas.ts";
import { configRoot, reportsRoot } from "../core/paths.ts";
import { sha256 } from "./cache.ts";

export const catalogDir = () => path.resolve(process.env.PATCHLAB_CATALOG_DIR ?? path.join(reportsRoot(), "catalog"));

/** A stable, valid patch id for a source package update: DEB-nginx-1.22.1-9_deb12u11. */
export function entryId(source: string, version: string): string {
  const id = `DEB-${source}-${version.replace(/[:+~]/g, "_")}`;
  return id.length <= 64 ? id : `${id.slice(0, 51)}-${sha256(id).slice(0, 12)}`;
}

export interface CatalogEntry {
  patch: AptPatch;
  file: string;
}

export function entryFile(dir: string, suite: string, id: string): string {
  return path.join(dir, "debian", suite, `${id}.yaml`);
}

/** Write an entry (validated first: the catalog never holds a manifest the loader would refuse). */
export function writeEntry(dir: string, patch: AptPatch): string {
  const valid = AptPatch.parse(patch);
  const file = entryFile(dir, valid.apt.suite, valid.id);
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const text = `# yaml-language-server: $schema=${path.relative(path.dirname(file), path.join(configRoot(), "schemas", "patch.schema.json"))}\n# Written by \`patchlab catalog import debian\` from Debian's signed index; edit \`severity\` to override.\n${YAML.stringify(valid, { lineWidth: 0 })}`;
  const tmp = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, text);
  fs.renameSync(tmp, file);
  return file;
}

/** Every manifest under the catalog directory, validated by the same loader as any patch. */
export async function loadCatalog(dir = catalogDir()): Promise<CatalogEntry[]> {
  const files: string[] = [];
  const walk = (d: string) => {
    if (!fs.existsSync(d)) return;
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.name.endsWith(".yaml")) files.push(p);
    }
  };
  walk(dir);
  files.sort();
  const out = new Map<string, CatalogEntry>();
  for (const f of files) {
    const { patch } = await loadPatch(f);
    // The same source version published in two suites is one update (its id says so): keep one.
    if (patch.kind === "apt" && !out.has(patch.id)) out.set(patch.id, { patch, file: f });
  }
  return [...out.values()];
}

export const isApt = (p: Patch): p is AptPatch => p.kind === "apt";
