// Image recipes and their content hashes. An image's tag is derived from every byte of its
// recipe (and of the base recipe for role images), so "is this image current?" is a single
// lookup of a tag in the engine, and changing one byte of a recipe yields a new tag.
import { createHash } from "node:crypto";
import fs from "node:fs/promises";
import path from "node:path";
import { ConfigError } from "../../core/errors.ts";

/** Bump when the way recipes are turned into images changes (build code, labels, layout). */
export const IMAGE_FORMAT_VERSION = "patchlab-image-v2";

/** The recipe every other image builds on. */
export const BASE_IMAGE = "base";

/** Repository prefix of every patchlab image: `patchlab/<name>:<hash12>`. */
export const IMAGE_REPO_PREFIX = "patchlab/";

import { repoRoot } from "../../core/paths.ts";

export interface RecipeOptions {
  /** Root of the recipes (one directory per image). Default: env PATCHLAB_IMAGES_DIR, else `<repo>/lab-config/images`. */
  imagesDir?: string;
}

export function imagesDir(opts: RecipeOptions = {}): string {
  return path.resolve(opts.imagesDir ?? process.env.PATCHLAB_IMAGES_DIR ?? path.join(repoRoot, "lab-config/images"));
}

/** Where builds keep their logs and locks. Env PATCHLAB_STATE_DIR, else `<repo>/reports/.state`. */
export function stateDir(): string {
  return path.resolve(process.env.PATCHLAB_STATE_DIR ?? path.join(repoRoot, "reports/.state"));
}

export function recipeDir(name: string, opts: RecipeOptions = {}): string {
  return path.join(imagesDir(opts), name);
}

/** Images this one is built on (role images build FROM the base image). */
export function dependencies(name: string): string[] {
  return name === BASE_IMAGE ? [] : [BASE_IMAGE];
}

export interface RecipeFile {
  /** Path relative to the recipe directory, with `/` separators. */
  rel: string;
  abs: string;
  executable: boolean;
  /** Symlink target when the entry is a symlink. */
  linkTarget?: string;
}

/** Every file of a recipe, sorted by relative path. Throws ConfigError when the recipe does not exist. */
export async function recipeFiles(name: string, opts: RecipeOptions = {}): Promise<RecipeFile[]> {
  const root = recipeDir(name, opts);
  if (!/^[a-z][a-z0-9-]{0,30}$/.test(name)) {
    throw new ConfigError(`image name "${name}" is not valid`, "image names are lower-case letters, digits and '-'", { value: name });
  }
  try {
    const st = await fs.stat(root);
    if (!st.isDirectory()) throw new Error("not a directory");
  } catch {
    const have = await availableImages(opts).catch(() => []);
    throw new ConfigError(
      `no image recipe "${name}" (looked for ${root})`,
      `use one of: ${have.join(", ") || "(none found)"}, or add a recipe directory lab-config/images/${name}/`,
      { field: "image", value: name },
    );
  }
  const out: RecipeFile[] = [];
  async function walk(dir: string): Promise<void> {
    for (const e of await fs.readdir(dir, { withFileTypes: true })) {
      const abs = path.join(dir, e.name);
      const rel = path.relative(root, abs).split(path.sep).join("/");
      if (e.isDirectory()) await walk(abs);
      else if (e.isSymbolicLink()) out.push({ rel, abs, executable: false, linkTarget: await fs.readlink(abs) });
      else if (e.isFile()) out.push({ rel, abs, executable: ((await fs.stat(abs)).mode & 0o111) !== 0 });
    }
  }
  await walk(root);
  out.sort((a, b) => (a.rel < b.rel ? -1 : a.rel > b.rel ? 1 : 0));
  return out;
}

/** Recipe directories present under the images root. */
export async function availableImages(opts: RecipeOptions = {}): Promise<string[]> {
  const entries = await fs.readdir(imagesDir(opts), { withFileTypes: true });
  return entries.filter((e) => e.isDirectory()).map((e) => e.name).sort();
}

/**
 * Full sha256 (hex) of a recipe: the format version, every file (path, executable bit,
 * content) sorted by path, and the hashes of the images it builds on.
 */
export async function recipeHash(name: string, opts: RecipeOptions = {}): Promise<string> {
  const h = createHash("sha256");
  h.update(`${IMAGE_FORMAT_VERSION}\0${name}\0`);
  for (const dep of dependencies(name)) h.update(`dep ${dep} ${await recipeHash(dep, opts)}\0`);
  for (const f of await recipeFiles(name, opts)) {
    if (f.linkTarget !== undefined) {
      h.update(`link ${f.rel}\0${f.linkTarget}\0`);
      continue;
    }
    const content = await fs.readFile(f.abs);
    h.update(`file ${f.rel}\0${f.executable ? "x" : "-"}\0${content.length}\0`);
    h.update(content);
  }
  return h.digest("hex");
}

/** `patchlab/<name>:<first 12 hex of the recipe hash>` for the recipe as it is now (nothing is built). */
export async function imageTag(name: string, opts: RecipeOptions = {}): Promise<string> {
  return tagFor(name, await recipeHash(name, opts));
}

export function tagFor(name: string, hash: string): string {
  return `${IMAGE_REPO_PREFIX}${name}:${hash.slice(0, 12)}`;
}
