// Builds the lab images once per recipe content. An image is `patchlab/<name>:<hash12>`;
// when the engine has that tag, nothing is built (a handful of inspects, well under a second).
// Otherwise the base image is made with debootstrap and role images are built FROM it with
// the engine's build API, at most three at a time. Builds of one tag are serialised across
// processes by a lock file; tags are content-addressed, so a race can only build twice, never
// produce a wrong image.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import type Docker from "dockerode";
import tar from "tar-stream";
import { LabError, PatchlabError } from "../../core/errors.ts";
import { nullLogger, type Logger } from "../../core/log.ts";
import { Labels } from "../drivers/docker-engine.ts";
import { buildBaseImage } from "./base.ts";
import { BuildLog } from "./buildlog.ts";
import {
  availableImages,
  BASE_IMAGE,
  dependencies,
  IMAGE_REPO_PREFIX,
  recipeDir,
  recipeFiles,
  recipeHash,
  stateDir as defaultStateDir,
  tagFor,
  type RecipeOptions,
} from "./recipes.ts";

export { BASE_IMAGE, IMAGE_FORMAT_VERSION, imageTag, recipeHash, availableImages, imagesDir } from "./recipes.ts";

/** Role images built at once (each runs apt in its own build container). */
export const BUILD_CONCURRENCY = 3;

export interface EnsureImagesOptions extends RecipeOptions {
  log?: Logger;
  /** Build output, line by line, prefixed with `[<image>] `. */
  onProgress?: (line: string) => void;
  /** Where build logs and locks go; default env PATCHLAB_STATE_DIR, else `<repo>/reports/.state`. */
  stateDir?: string;
}

export interface ImageStatus {
  name: string;
  tag: string;
  /** Full sha256 of the recipe (the tag holds its first 12 hex). */
  hash: string;
  built: boolean;
  /** Engine image id, size and creation time when built. */
  id?: string;
  sizeBytes?: number;
  createdAt?: string;
}

/** Labels on every image patchlab builds. */
export function imageLabels(name: string, hash: string): Record<string, string> {
  return {
    [Labels.managed]: "true",
    [Labels.kind]: "image",
    [Labels.recipeHash]: hash,
    "patchlab.recipe": name,
  };
}

/** Images to consider for `names`: their dependencies first, each once. */
function closure(names: string[]): string[] {
  const out: string[] = [];
  const visit = (n: string) => {
    if (out.includes(n)) return;
    for (const d of dependencies(n)) visit(d);
    out.push(n);
  };
  for (const n of names) visit(n);
  return out;
}

async function inspectOrNull(docker: Docker, tag: string): Promise<Docker.ImageInspectInfo | null> {
  try {
    return await docker.getImage(tag).inspect();
  } catch (e) {
    if ((e as { statusCode?: number }).statusCode === 404) return null;
    throw new LabError("engine-unreachable", `could not inspect image ${tag}: ${(e as Error).message}`, "check the Docker engine (`docker info`); run `npx patchlab doctor --fix`", {}, { cause: e });
  }
}

/** Which of these images (and the images they build on) exist for their current recipe. */
export async function imageStatus(docker: Docker, names: string[], opts: RecipeOptions = {}): Promise<ImageStatus[]> {
  const all = closure(names);
  return Promise.all(
    all.map(async (name) => {
      const hash = await recipeHash(name, opts);
      const tag = tagFor(name, hash);
      const info = await inspectOrNull(docker, tag);
      return info
        ? { name, tag, hash, built: true, id: info.Id, sizeBytes: info.Size, createdAt: info.Created }
        : { name, tag, hash, built: false };
    }),
  );
}

/**
 * Removes the tags of patchlab images whose recipe has changed since (`patchlab/<name>:<old
 * hash>`). Nothing runs this on its own: a tag still used by a container, or an image a
 * snapshot builds on, is kept (the engine refuses) and reported.
 */
export async function removeStaleImages(
  docker: Docker,
  opts: RecipeOptions & { dryRun?: boolean } = {},
): Promise<{ removed: string[]; kept: { tag: string; reason: string }[] }> {
  const names = await availableImages(opts);
  const current = new Set(await Promise.all(names.map(async (n) => tagFor(n, await recipeHash(n, opts)))));
  const images = await docker.listImages({ filters: { label: [`${Labels.managed}=true`, `${Labels.kind}=image`] } });
  const stale = images
    .flatMap((i) => i.RepoTags ?? [])
    .filter((t) => t.startsWith(IMAGE_REPO_PREFIX) && names.includes(t.slice(IMAGE_REPO_PREFIX.length).split(":")[0]!) && !current.has(t));
  const removed: string[] = [];
  const kept: { tag: string; reason: string }[] = [];
  for (const tag of stale.sort()) {
    if (opts.dryRun) { removed.push(tag); continue; }
    try {
      await docker.getImage(tag).remove();
      removed.push(tag);
    } catch (e) {
      kept.push({ tag, reason: (e as Error).message });
    }
  }
  return { removed, kept };
}

/** In-process builds by tag, so two callers in one process share one build. */
const inFlight = new Map<string, Promise<void>>();

/**
 * Makes sure every named image (and the base it builds on) exists for its current recipe.
 * Returns image name -> tag for the names asked for.
 */
export async function ensureImages(
  docker: Docker,
  names: string[],
  opts: EnsureImagesOptions = {},
): Promise<Map<string, string>> {
  const log = opts.log ?? nullLogger;
  const status = await imageStatus(docker, names, opts);
  const byName = new Map(status.map((s) => [s.name, s]));
  const result = new Map(names.map((n) => [n, byName.get(n)!.tag]));
  const missing = status.filter((s) => !s.built);
  if (missing.length === 0) {
    log.debug("images current", { images: Object.fromEntries(result) });
    return result;
  }
  const ctx: BuildContext = {
    docker,
    log,
    onProgress: opts.onProgress,
    stateDir: path.resolve(opts.stateDir ?? defaultStateDir()),
    recipeOpts: { imagesDir: opts.imagesDir },
    tags: new Map(status.map((s) => [s.name, s.tag])),
  };
  const missingBase = missing.filter((s) => s.name === BASE_IMAGE);
  const missingRoles = missing.filter((s) => s.name !== BASE_IMAGE);
  for (const s of missingBase) await buildShared(ctx, s);
  await mapLimit(missingRoles, BUILD_CONCURRENCY, (s) => buildShared(ctx, s));
  return result;
}

interface BuildContext {
  docker: Docker;
  log: Logger;
  onProgress: ((line: string) => void) | undefined;
  stateDir: string;
  recipeOpts: RecipeOptions;
  tags: Map<string, string>;
}

function buildShared(ctx: BuildContext, s: ImageStatus): Promise<void> {
  let p = inFlight.get(s.tag);
  if (!p) {
    p = buildLocked(ctx, s).finally(() => inFlight.delete(s.tag));
    inFlight.set(s.tag, p);
  }
  return p;
}

async function buildLocked(ctx: BuildContext, s: ImageStatus): Promise<void> {
  const dir = path.join(ctx.stateDir, "image-builds");
  fs.mkdirSync(dir, { recursive: true });
  const lockFile = path.join(dir, `${s.name}-${s.hash.slice(0, 12)}.lock`);
  await withLockFile(lockFile, ctx, s.name, async () => {
    if (await inspectOrNull(ctx.docker, s.tag)) return; // another process built it meanwhile
    await buildOne(ctx, s, path.join(dir, `${s.name}-${s.hash.slice(0, 12)}.log`));
  });
}

async function buildOne(ctx: BuildContext, s: ImageStatus, logFile: string): Promise<void> {
  const started = Date.now();
  const progress = ctx.onProgress;
  const blog = new BuildLog(logFile, progress ? (l) => progress(`[${s.name}] ${l}`) : undefined);
  ctx.log.info("image build started", { image: s.name, tag: s.tag, log: logFile });
  progress?.(`[${s.name}] building ${s.tag} (log: ${logFile})`);
  try {
    const labels = imageLabels(s.name, s.hash);
    const dir = recipeDir(s.name, ctx.recipeOpts);
    if (s.name === BASE_IMAGE) {
      await buildBaseImage(ctx.docker, { recipeDir: dir, tag: s.tag, labels, log: blog });
    } else {
      const buildargs: Record<string, string> = {};
      for (const dep of dependencies(s.name)) buildargs[dep.toUpperCase().replace(/-/g, "_")] = ctx.tags.get(dep)!;
      await buildFromDockerfile(ctx.docker, { name: s.name, tag: s.tag, labels, buildargs, recipeOpts: ctx.recipeOpts, log: blog });
    }
    const secs = ((Date.now() - started) / 1000).toFixed(1);
    blog.line(`# built ${s.tag} in ${secs} s`);
    ctx.log.info("image built", { image: s.name, tag: s.tag, seconds: Number(secs) });
  } catch (e) {
    const tail = blog.lastLines(20);
    blog.line(`# FAILED: ${(e as Error).message}`);
    ctx.log.error("image build failed", { image: s.name, tag: s.tag, log: logFile, error: (e as Error).message });
    if (e instanceof PatchlabError && !(e instanceof LabError && e.kind === "harness")) throw e;
    throw new LabError(
      "image-build",
      `image ${s.name} (${s.tag}) failed to build: ${(e as Error).message}\n` +
        `--- last ${tail.length} lines of ${logFile} ---\n${tail.join("\n")}`,
      `read the build log ${logFile}; fix the recipe ${shownPath(recipeDir(s.name, ctx.recipeOpts))}/ (a package name, a step) or the host's access to deb.debian.org, then run again`,
      {},
      { cause: e },
    );
  } finally {
    blog.close();
  }
}

/** A path as a person would type it: relative to the working directory when inside it. */
function shownPath(p: string): string {
  const rel = path.relative(process.cwd(), p);
  return rel && !rel.startsWith("..") && !path.isAbsolute(rel) ? rel : p;
}

/** A tar of the recipe directory, the build context. Deterministic: fixed owner, modes and times. */
async function recipeContext(name: string, recipeOpts: RecipeOptions): Promise<tar.Pack> {
  const files = await recipeFiles(name, recipeOpts);
  const pack = tar.pack();
  for (const f of files) {
    const common = { name: f.rel, uid: 0, gid: 0, mtime: new Date(0) };
    if (f.linkTarget !== undefined) pack.entry({ ...common, type: "symlink", linkname: f.linkTarget });
    else pack.entry({ ...common, mode: f.executable ? 0o755 : 0o644 }, fs.readFileSync(f.abs));
  }
  pack.finalize();
  return pack;
}

interface BuildEvent {
  stream?: string;
  status?: string;
  error?: string;
  errorDetail?: { message?: string };
  aux?: { ID?: string };
}

async function buildFromDockerfile(
  docker: Docker,
  args: { name: string; tag: string; labels: Record<string, string>; buildargs: Record<string, string>; recipeOpts: RecipeOptions; log: BuildLog },
): Promise<void> {
  const context = await recipeContext(args.name, args.recipeOpts);
  args.log.line(`$ docker build --build-arg ${Object.entries(args.buildargs).map(([k, v]) => `${k}=${v}`).join(" ")} -t ${args.tag} ${recipeDir(args.name, args.recipeOpts)}`);
  const stream = await docker.buildImage(context as unknown as NodeJS.ReadableStream, {
    t: args.tag,
    buildargs: args.buildargs,
    labels: args.labels,
    rm: true,
    forcerm: true,
    pull: false,
  } as Docker.ImageBuildOptions);
  let failure: string | undefined;
  await new Promise<void>((resolve, reject) => {
    docker.modem.followProgress(
      stream,
      (err: Error | null) => (err ? reject(err) : resolve()),
      (ev: BuildEvent) => {
        if (ev.stream) args.log.write(ev.stream);
        else if (ev.status) args.log.line(ev.status);
        if (ev.error) {
          failure = ev.errorDetail?.message ?? ev.error;
          args.log.line(`ERROR: ${failure}`);
        }
      },
    );
  });
  if (failure) throw new Error(failure);
  if (!(await inspectOrNull(docker, args.tag))) throw new Error(`the engine reported success but has no image ${args.tag}`);
}

/** Runs fn(item) for every item, at most `limit` at once; rejects with the first failure after all settle. */
async function mapLimit<T>(items: T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  const queue = [...items];
  const errors: unknown[] = [];
  const workers = Array.from({ length: Math.min(limit, queue.length) }, async () => {
    for (let item = queue.shift(); item !== undefined; item = queue.shift()) {
      try {
        await fn(item);
      } catch (e) {
        errors.push(e);
      }
    }
  });
  await Promise.all(workers);
  if (errors.length > 0) throw errors[0];
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM";
  }
}

/**
 * Exclusive lock by an O_EXCL file holding `<pid> <host>`. A lock whose process is gone (same
 * host) is stale and taken over. Waiters poll: a build takes minutes, a poll costs nothing.
 */
async function withLockFile(file: string, ctx: BuildContext, name: string, fn: () => Promise<void>): Promise<void> {
  const me = `${process.pid} ${os.hostname()} ${new Date().toISOString()}\n`;
  let told = false;
  const giveUpAt = Date.now() + 60 * 60_000;
  for (;;) {
    try {
      fs.writeFileSync(file, me, { flag: "wx" });
      break;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e;
    }
    let holder = "";
    try { holder = fs.readFileSync(file, "utf8"); } catch { continue; }
    const [pidText, host] = holder.split(" ");
    const pid = Number(pidText);
    if (host === os.hostname() && Number.isInteger(pid) && pid > 0 && !pidAlive(pid)) {
      try { fs.unlinkSync(file); } catch { /* someone else removed it */ }
      continue;
    }
    if (Date.now() > giveUpAt) {
      throw new LabError("busy", `image ${name} has been built by another process for an hour (lock ${file}: ${holder.trim()})`, `if no patchlab process is building images, delete ${file}`);
    }
    if (!told) {
      ctx.onProgress?.(`[${name}] waiting for another patchlab process building it (lock ${file})`);
      told = true;
    }
    await new Promise((r) => setTimeout(r, 1000));
  }
  try {
    await fn();
  } finally {
    try { fs.unlinkSync(file); } catch { /* gone */ }
  }
}
