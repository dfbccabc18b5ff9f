// Where lab-config lives, and what it offers (labs, images) — for resolving lab names
// and for remedies that list the choices instead of saying "not found".
import fs from "node:fs";
import path from "node:path";

import { repoRoot } from "../core/paths.ts";

/** Explicit option, else $PATCHLAB_CONFIG_ROOT, else <repo>/lab-config. */
export function resolveConfigRoot(configRoot?: string): string {
  return path.resolve(configRoot ?? process.env["PATCHLAB_CONFIG_ROOT"] ?? path.join(repoRoot, "lab-config"));
}

/** A lab reference is a name (reference) or a path (labs/x.yaml, ./x.yaml). */
export function isLabName(ref: string): boolean {
  return /^[a-z][a-z0-9-]{0,30}$/.test(ref);
}

/** <configRoot>/labs/<name>.yaml (or .yml when only that exists, as listLabs offers both). */
export function labFileFor(configRoot: string, name: string): string {
  const yaml = path.join(configRoot, "labs", `${name}.yaml`);
  const yml = path.join(configRoot, "labs", `${name}.yml`);
  return !fs.existsSync(yaml) && fs.existsSync(yml) ? yml : yaml;
}

/** Lab names available under <configRoot>/labs, sorted. */
export function listLabs(configRoot: string): string[] {
  return listEntries(path.join(configRoot, "labs"))
    .filter((e) => e.isFile() && /\.ya?ml$/.test(e.name))
    .map((e) => e.name.replace(/\.ya?ml$/, ""))
    .sort();
}

/** Image recipe names (directories) under <configRoot>/images, sorted. */
export function listImages(configRoot: string): string[] {
  return listEntries(path.join(configRoot, "images"))
    .filter((e) => e.isDirectory())
    .map((e) => e.name)
    .sort();
}

export function imageDirFor(configRoot: string, image: string): string {
  return path.join(configRoot, "images", image);
}

/** "use one of: a, b" or a note that there are none, for remedies. */
export function choices(names: readonly string[], noneText: string): string {
  return names.length > 0 ? `use one of: ${names.join(", ")}` : noneText;
}

function listEntries(dir: string): fs.Dirent[] {
  try {
    return fs.readdirSync(dir, { withFileTypes: true });
  } catch {
    return [];
  }
}
