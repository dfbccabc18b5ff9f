// The base image: a minimal Debian tree made with debootstrap (no registry needed), the
// recipe's rootfs/ overlay and setup.sh applied in a chroot, then `docker import`ed with the
// entrypoint, environment and labels from recipe.yaml.
import fs from "node:fs/promises";
import { readFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { spawn, spawnSync } from "node:child_process";
import type Docker from "dockerode";
import { parse as parseYaml } from "yaml";
import { z } from "zod";
import { LabError } from "../../core/errors.ts";
import type { BuildLog } from "./buildlog.ts";

export const BaseRecipe = z
  .object({
    suite: z.string().regex(/^[a-z]+$/),
    variant: z.enum(["minbase", "buildd", "fakechroot"]).default("minbase"),
    mirror: z.string().url(),
    include: z.array(z.string().regex(/^[a-z0-9][a-z0-9+.-]*$/)).default([]),
    entrypoint: z.array(z.string()).min(1),
    env: z.record(z.string(), z.string()).default({}),
  })
  .strict();
export type BaseRecipe = z.infer<typeof BaseRecipe>;

export function readBaseRecipe(recipeDir: string): BaseRecipe {
  const file = path.join(recipeDir, "recipe.yaml");
  return BaseRecipe.parse(parseYaml(readFileSync(file, "utf8")));
}

/** Dockerfile-style instructions for `docker import --change`. */
export function importChanges(recipe: BaseRecipe, labels: Record<string, string>): string[] {
  return [
    `ENTRYPOINT ${JSON.stringify(recipe.entrypoint)}`,
    ...Object.entries(recipe.env).map(([k, v]) => `ENV ${k}=${JSON.stringify(v)}`),
    ...Object.entries(labels).map(([k, v]) => `LABEL ${k}=${JSON.stringify(v)}`),
  ];
}

function hasCommand(cmd: string): boolean {
  return spawnSync("sh", ["-c", `command -v ${cmd}`], { stdio: "ignore" }).status === 0;
}

/** Unmounts anything debootstrap left mounted under dir (it mounts proc/sys in the target). */
function unmountUnder(dir: string): void {
  let mounts: string[] = [];
  try {
    mounts = readFileSync("/proc/mounts", "utf8")
      .split("\n")
      .map((l) => l.split(" ")[1] ?? "")
      .map((p) => p.replace(/\\040/g, " "))
      .filter((p) => p === dir || p.startsWith(dir + "/"));
  } catch { /* not Linux */ }
  for (const m of mounts.sort().reverse()) spawnSync("umount", ["-l", m], { stdio: "ignore" });
}

async function copyOverlay(src: string, dest: string): Promise<void> {
  let entries: import("node:fs").Dirent[];
  try {
    entries = await fs.readdir(src, { withFileTypes: true });
  } catch {
    return; // no overlay
  }
  for (const e of entries) {
    const from = path.join(src, e.name);
    const to = path.join(dest, e.name);
    if (e.isDirectory()) {
      // Existing directories (and symlinks to directories, e.g. merged-/usr /sbin) are kept.
      await fs.mkdir(to, { recursive: true, mode: 0o755 });
      await copyOverlay(from, to);
    } else if (e.isSymbolicLink()) {
      await fs.rm(to, { force: true });
      await fs.symlink(await fs.readlink(from), to);
    } else if (e.isFile()) {
      if (e.name === ".keep") continue; // placeholder keeping an empty directory in git
      const exec = ((await fs.stat(from)).mode & 0o111) !== 0;
      await fs.rm(to, { force: true });
      await fs.copyFile(from, to);
      await fs.chmod(to, exec ? 0o755 : 0o644);
    }
  }
}

export async function buildBaseImage(
  docker: Docker,
  args: { recipeDir: string; tag: string; labels: Record<string, string>; log: BuildLog },
): Promise<void> {
  const { recipeDir, tag, labels, log } = args;
  const recipe = readBaseRecipe(recipeDir);
  for (const tool of ["debootstrap", "tar", "chroot"]) {
    if (!hasCommand(tool)) {
      throw new LabError(
        "dependency-missing",
        `${tool} is not installed on this host; it is needed to build the base image`,
        "run `npx patchlab doctor --fix` (or `apt-get install debootstrap`)",
      );
    }
  }
  if (process.getuid?.() !== 0) {
    throw new LabError("dependency-missing", "building the base image with debootstrap needs root", "run the harness as root (or build the images once as root)");
  }

  const root = await fs.mkdtemp(path.join(os.tmpdir(), "patchlab-base-"));
  try {
    log.line(`# building ${tag} in ${root}`);
    const args = [
      `--variant=${recipe.variant}`,
      ...(recipe.include.length ? [`--include=${recipe.include.join(",")}`] : []),
      recipe.suite,
      root,
      recipe.mirror,
    ];
    try {
      await log.run("debootstrap", args);
    } catch (e) {
      // One retry from an empty tree: a mirror hiccup should not fail a first run.
      log.line(`# debootstrap failed (${(e as Error).message}); retrying once from scratch`);
      unmountUnder(root);
      await rmTree(root);
      await fs.mkdir(root, { recursive: true });
      await log.run("debootstrap", args);
    }
    await copyOverlay(path.join(recipeDir, "rootfs"), root);
    try {
      const setup = await fs.readFile(path.join(recipeDir, "setup.sh"));
      await fs.writeFile(path.join(root, "tmp/patchlab-setup.sh"), setup, { mode: 0o755 });
      await log.run("chroot", [root, "/bin/sh", "-e", "/tmp/patchlab-setup.sh"], {
        env: { PATH: "/usr/sbin:/usr/bin:/sbin:/bin", DEBIAN_FRONTEND: "noninteractive", LANG: "C.UTF-8", HOME: "/root" },
      });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "ENOENT") throw e;
    }
    await importTree(docker, root, tag, importChanges(recipe, labels), log);
  } finally {
    unmountUnder(root);
    await rmTree(root);
  }
}

/** rm -rf that never crosses into a mount debootstrap may have left behind. */
function rmTree(dir: string): Promise<void> {
  return new Promise<void>((resolve) => {
    const p = spawn("rm", ["-rf", "--one-file-system", dir], { stdio: "ignore" });
    p.once("close", () => resolve());
    p.once("error", () => resolve());
  });
}

async function importTree(docker: Docker, root: string, tag: string, changes: string[], log: BuildLog): Promise<void> {
  const [repo, version] = splitTag(tag);
  log.line(`$ tar -C ${root} -c . | docker import ${changes.map((c) => `--change '${c}'`).join(" ")} - ${tag}`);
  const tar = spawn("tar", ["--numeric-owner", "-C", root, "-c", "."], { stdio: ["ignore", "pipe", "pipe"] });
  tar.stderr.on("data", (b: Buffer) => log.write(b));
  const tarDone = new Promise<void>((resolve, reject) => {
    tar.once("error", reject);
    tar.once("close", (code) => (code === 0 ? resolve() : reject(new Error(`tar exited with ${code}`))));
  });
  const stream = await docker.importImage(tar.stdout as unknown as string, { repo, tag: version, changes } as object);
  await new Promise<void>((resolve, reject) => {
    docker.modem.followProgress(
      stream as NodeJS.ReadableStream,
      (err: Error | null) => (err ? reject(err) : resolve()),
      (ev: { status?: string; error?: string }) => {
        if (ev.error) log.line(`import error: ${ev.error}`);
        else if (ev.status) log.line(`import: ${ev.status}`);
      },
    );
  });
  await tarDone;
  // The engine reports some import failures only as an event; the tag is the proof.
  await docker.getImage(tag).inspect();
}

export function splitTag(tag: string): [string, string] {
  const i = tag.lastIndexOf(":");
  return [tag.slice(0, i), tag.slice(i + 1)];
}
