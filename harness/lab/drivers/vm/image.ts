// VM images: a bootable Debian guest built from Debian packages only, once per recipe
// content. debootstrap makes the tree (kernel and initramfs included), the recipe's rootfs/
// and setup.sh are applied in a chroot, `mkfs.ext4 -d` turns the tree into a filesystem
// image without loop mounts, and qemu-img makes it the read-only qcow2 base every VM's
// overlay is backed by. The kernel and initrd are copied beside it for direct boot.
//
// Cache: /var/cache/patchlab/vm-images/<name>-<hash12>/ is complete once manifest.json exists (written
// last, after an atomic rename of the whole directory), so "is this image current?" is one
// stat, like the container images' tag lookup.
import { createHash } from "node:crypto";
import fs from "node:fs";
import fsp from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { spawn, spawnSync } from "node:child_process";
import { parse as parseYaml } from "yaml";
import { z } from "zod";
import { ConfigError, LabError, PatchlabError } from "../../../core/errors.ts";
import { stateDir } from "../../../core/paths.ts";
import { BuildLog } from "../../images/buildlog.ts";
import { imagesDir, recipeFiles } from "../../images/recipes.ts";

/** Bump when the way recipes become VM images changes. */
export const VM_IMAGE_FORMAT_VERSION = "patchlab-vm-image-v1";

export const VmRecipe = z
  .object({
    suite: z.string().regex(/^[a-z]+$/),
    mirror: z.url(),
    include: z.array(z.string().regex(/^[a-z0-9][a-z0-9+.-]*$/)).min(1),
    diskSize: z.string().regex(/^[1-9][0-9]*[MG]$/, "a size such as 3G or 2048M"),
    cmdline: z.string().min(1),
  })
  .strict();
export type VmRecipe = z.infer<typeof VmRecipe>;

export interface VmImage {
  name: string;
  hash: string;
  dir: string;
  /** Read-only qcow2 every VM's overlay is backed by. */
  disk: string;
  kernel: string;
  initrd: string;
  cmdline: string;
  /** The guest's SSH host public keys (`<type> <base64>`), pinned by the driver. */
  hostKeys: string[];
  builtAt: string;
  buildSeconds: number;
}

const Manifest = z.object({
  name: z.string(),
  hash: z.string(),
  cmdline: z.string(),
  hostKeys: z.array(z.string()).min(1),
  builtAt: z.string(),
  buildSeconds: z.number(),
});

/** Root of the VM recipes: <images>/vm (the container recipes' root honours PATCHLAB_IMAGES_DIR). */
export function vmImagesDir(): string {
  return path.join(imagesDir(), "vm");
}

/**
 * Built VM images are kept machine-wide, like the engine's container images: a fresh clone or
 * state directory reuses them until the recipe changes (they hold no lab secret or key; the
 * harness's key and the lab's settings go in when a VM is provisioned).
 */
export function vmImageCache(): string {
  return process.env.PATCHLAB_VM_IMAGE_CACHE ?? "/var/cache/patchlab/vm-images";
}

function recipeDirOf(name: string): string {
  const dir = path.join(vmImagesDir(), name);
  if (!/^[a-z][a-z0-9-]{0,30}$/.test(name) || !fs.existsSync(path.join(dir, "recipe.yaml"))) {
    const have = fs.existsSync(vmImagesDir())
      ? fs.readdirSync(vmImagesDir(), { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => e.name)
      : [];
    throw new ConfigError(
      `no VM image recipe "${name}" (looked for ${dir}/recipe.yaml)`,
      `set the machine's vm.image to one of: ${have.join(", ") || "(none)"}, or add lab-config/images/vm/${name}/`,
      { field: "vm.image", value: name },
    );
  }
  return dir;
}

export function readVmRecipe(name: string): VmRecipe {
  const file = path.join(recipeDirOf(name), "recipe.yaml");
  const r = VmRecipe.safeParse(parseYaml(fs.readFileSync(file, "utf8")));
  if (!r.success) {
    throw new ConfigError(`${file}: ${r.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ")}`, "fix the VM recipe", { file });
  }
  return r.data;
}

/** sha256 over the format version and every file of the recipe (path, executable bit, content). */
export async function vmRecipeHash(name: string): Promise<string> {
  recipeDirOf(name);
  const h = createHash("sha256");
  h.update(`${VM_IMAGE_FORMAT_VERSION}\0${name}\0`);
  for (const f of await recipeFiles(name, { imagesDir: vmImagesDir() })) {
    if (f.linkTarget !== undefined) {
      h.update(`link ${f.rel}\0${f.linkTarget}\0`);
      continue;
    }
    const content = await fsp.readFile(f.abs);
    h.update(`file ${f.rel}\0${f.executable ? "x" : "-"}\0${content.length}\0`);
    h.update(content);
  }
  return h.digest("hex");
}

function imageAt(dir: string): VmImage | undefined {
  try {
    const m = Manifest.parse(JSON.parse(fs.readFileSync(path.join(dir, "manifest.json"), "utf8")));
    const img = { ...m, dir, disk: path.join(dir, "base.qcow2"), kernel: path.join(dir, "vmlinuz"), initrd: path.join(dir, "initrd.img") };
    return [img.disk, img.kernel, img.initrd].every((f) => fs.existsSync(f)) ? img : undefined;
  } catch {
    return undefined;
  }
}

/** The built image for the recipe as it is now, or undefined (nothing is built). */
export async function vmImageStatus(name: string): Promise<{ hash: string; dir: string; image?: VmImage }> {
  const hash = await vmRecipeHash(name);
  const dir = path.join(vmImageCache(), `${name}-${hash.slice(0, 12)}`);
  const image = imageAt(dir);
  return image ? { hash, dir, image } : { hash, dir };
}

export interface EnsureVmImageOptions {
  onProgress?: (line: string) => void;
}

const inFlight = new Map<string, Promise<VmImage>>();

/** The image for the recipe's current content, built first when missing (minutes, once). */
export async function ensureVmImage(name: string, opts: EnsureVmImageOptions = {}): Promise<VmImage> {
  const st = await vmImageStatus(name);
  if (st.image) return st.image;
  let p = inFlight.get(st.dir);
  if (!p) {
    p = withBuildLock(`${st.dir}.lock`, opts, name, async () => imageAt(st.dir) ?? (await buildVmImage(name, st.hash, st.dir, opts))).finally(() => inFlight.delete(st.dir));
    inFlight.set(st.dir, p);
  }
  return p;
}

function requireTools(): void {
  const missing = ["debootstrap", "chroot", "mkfs.ext4", "qemu-img"].filter((t) => spawnSync("sh", ["-c", `command -v ${t}`], { stdio: "ignore" }).status !== 0);
  if (missing.length) {
    throw new LabError("dependency-missing", `building a VM image needs ${missing.join(", ")} on this host`, "run `npx patchlab doctor --fix` (installs debootstrap, e2fsprogs, qemu-utils)");
  }
  if (process.getuid?.() !== 0) {
    throw new LabError("dependency-missing", "building a VM image (debootstrap, chroot) needs root", "run the harness as root (or build the image once as root)");
  }
}

async function buildVmImage(name: string, hash: string, dir: string, opts: EnsureVmImageOptions): Promise<VmImage> {
  requireTools();
  const recipeDir = recipeDirOf(name);
  const recipe = readVmRecipe(name);
  const logFile = `${dir}.log`;
  const log = new BuildLog(logFile, opts.onProgress ? (l) => opts.onProgress!(`[vm:${name}] ${l}`) : undefined);
  const started = Date.now();
  const work = await fsp.mkdtemp(path.join(path.dirname(dir), `.build-${name}-`));
  const root = path.join(work, "root");
  const out = path.join(work, "out");
  opts.onProgress?.(`[vm:${name}] building VM image ${path.basename(dir)} (log: ${logFile})`);
  try {
    await fsp.mkdir(root);
    await fsp.mkdir(out);
    const args = ["--variant=minbase", `--include=${recipe.include.join(",")}`, recipe.suite, root, recipe.mirror];
    try {
      await log.run("debootstrap", args);
    } catch (e) {
      log.line(`# debootstrap failed (${(e as Error).message}); retrying once from scratch`);
      unmountUnder(root);
      await rmTree(root);
      await fsp.mkdir(root);
      await log.run("debootstrap", args);
    }
    await copyOverlay(path.join(recipeDir, "rootfs"), root);
    await fsp.copyFile(path.join(recipeDir, "setup.sh"), path.join(root, "tmp/patchlab-setup.sh"));
    await log.run("mount", ["-t", "proc", "proc", path.join(root, "proc")]);
    try {
      await log.run("chroot", [root, "/bin/sh", "-e", "/tmp/patchlab-setup.sh"], {
        env: { PATH: "/usr/sbin:/usr/bin:/sbin:/bin", DEBIAN_FRONTEND: "noninteractive", LANG: "C.UTF-8", HOME: "/root" },
      });
    } finally {
      unmountUnder(root);
    }
    await fsp.rm(path.join(root, "tmp/patchlab-setup.sh"), { force: true });

    // Kernel and initrd for direct boot (the guest keeps its own copies under /boot too).
    const boot = await fsp.readdir(path.join(root, "boot"));
    const kernel = boot.filter((f) => f.startsWith("vmlinuz-")).sort().pop();
    const initrd = boot.filter((f) => f.startsWith("initrd.img-")).sort().pop();
    if (!kernel || !initrd) throw new Error(`no kernel/initrd under /boot of the tree (found: ${boot.join(", ")}); does the recipe include linux-image-amd64?`);
    await fsp.copyFile(path.join(root, "boot", kernel), path.join(out, "vmlinuz"));
    await fsp.copyFile(path.join(root, "boot", initrd), path.join(out, "initrd.img"));
    const hostKeys = (await fsp.readdir(path.join(root, "etc/ssh")))
      .filter((f) => /^ssh_host_.*_key\.pub$/.test(f))
      .sort()
      .map((f) => fs.readFileSync(path.join(root, "etc/ssh", f), "utf8").trim().split(/\s+/).slice(0, 2).join(" "));
    if (hostKeys.length === 0) throw new Error("the tree has no SSH host keys (/etc/ssh/ssh_host_*_key.pub); does the recipe include openssh-server?");

    const raw = path.join(work, "disk.raw");
    await log.run("mkfs.ext4", ["-q", "-F", "-L", "patchlab-root", "-d", root, raw, recipe.diskSize]);
    await log.run("qemu-img", ["convert", "-f", "raw", "-O", "qcow2", raw, path.join(out, "base.qcow2")]);
    await fsp.rm(raw, { force: true });
    const buildSeconds = Math.round((Date.now() - started) / 100) / 10;
    const manifest = { name, hash, cmdline: recipe.cmdline, hostKeys, builtAt: new Date().toISOString(), buildSeconds };
    await fsp.writeFile(path.join(out, "manifest.json"), JSON.stringify(manifest, null, 2) + "\n");
    // Base images are never written to: every VM writes to its own overlay.
    await fsp.chmod(path.join(out, "base.qcow2"), 0o444);
    await fsp.rm(dir, { recursive: true, force: true });
    await fsp.rename(out, dir);
    log.line(`# built VM image ${name} (${hash.slice(0, 12)}) in ${buildSeconds} s`);
    opts.onProgress?.(`[vm:${name}] built in ${buildSeconds} s`);
    return imageAt(dir)!;
  } catch (e) {
    const tail = log.lastLines(20);
    log.line(`# FAILED: ${(e as Error).message}`);
    if (e instanceof PatchlabError) throw e;
    throw new LabError(
      "image-build",
      `VM image ${name} failed to build: ${(e as Error).message}\n--- last ${tail.length} lines of ${logFile} ---\n${tail.join("\n")}`,
      `read ${logFile}; fix the recipe lab-config/images/vm/${name}/ or the host's access to deb.debian.org, then run again`,
      {},
      { cause: e },
    );
  } finally {
    log.close();
    unmountUnder(root);
    await rmTree(work);
  }
}

/** Unmounts anything left mounted under dir (debootstrap mounts proc/sys in the target). */
function unmountUnder(dir: string): void {
  let mounts: string[] = [];
  try {
    mounts = fs
      .readFileSync("/proc/mounts", "utf8")
      .split("\n")
      .map((l) => (l.split(" ")[1] ?? "").replace(/\\040/g, " "))
      .filter((p) => p === dir || p.startsWith(dir + "/"));
  } catch { /* not Linux */ }
  for (const m of mounts.sort().reverse()) spawnSync("umount", ["-l", m], { stdio: "ignore" });
}

/** rm -rf that never crosses into a mount left behind. */
function rmTree(dir: string): Promise<void> {
  return new Promise<void>((resolve) => {
    const p = spawn("rm", ["-rf", "--one-file-system", dir], { stdio: "ignore" });
    p.once("close", () => resolve());
    p.once("error", () => resolve());
  });
}

async function copyOverlay(src: string, dest: string): Promise<void> {
  let entries: fs.Dirent[];
  try {
    entries = await fsp.readdir(src, { withFileTypes: true });
  } catch {
    return;
  }
  for (const e of entries) {
    const from = path.join(src, e.name);
    const to = path.join(dest, e.name);
    if (e.isDirectory()) {
      await fsp.mkdir(to, { recursive: true, mode: 0o755 });
      await copyOverlay(from, to);
    } else if (e.isSymbolicLink()) {
      await fsp.rm(to, { force: true });
      await fsp.symlink(await fsp.readlink(from), to);
    } else if (e.isFile()) {
      if (e.name === ".keep") continue;
      const exec = ((await fsp.stat(from)).mode & 0o111) !== 0;
      await fsp.rm(to, { force: true });
      await fsp.copyFile(from, to);
      await fsp.chmod(to, exec ? 0o755 : 0o644);
    }
  }
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** One builder per image across processes: an O_EXCL file naming its pid; a dead holder's lock is taken over. */
async function withBuildLock<T>(file: string, opts: EnsureVmImageOptions, name: string, fn: () => Promise<T>): Promise<T> {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const me = `${process.pid} ${os.hostname()} ${new Date().toISOString()}\n`;
  const giveUpAt = Date.now() + 60 * 60_000;
  let told = false;
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
      try { fs.unlinkSync(file); } catch { /* raced */ }
      continue;
    }
    if (Date.now() > giveUpAt) throw new LabError("busy", `VM image ${name} has been built by another process for an hour (lock ${file})`, `if no patchlab process is building it, delete ${file}`);
    if (!told) opts.onProgress?.(`[vm:${name}] waiting for another patchlab process building it (lock ${file})`);
    told = true;
    await new Promise((r) => setTimeout(r, 1000));
  }
  try {
    return await fn();
  } finally {
    try { fs.unlinkSync(file); } catch { /* gone */ }
  }
}

/**
 * Removes built images of these recipes whose recipe has changed since (other hashes), unless
 * a VM's overlay still builds on them (a stopped VM keeps its base). Returns what went.
 */
export async function removeStaleVmImages(names: string[], vmsRoot = path.join(stateDir(), "vms")): Promise<{ removed: string[]; kept: string[] }> {
  const inUse = new Set<string>();
  if (fs.existsSync(vmsRoot)) {
    for (const lab of fs.readdirSync(vmsRoot)) {
      for (const m of fs.readdirSync(path.join(vmsRoot, lab))) {
        try {
          inUse.add(path.resolve((JSON.parse(fs.readFileSync(path.join(vmsRoot, lab, m, "vm.json"), "utf8")) as { imageDir: string }).imageDir));
        } catch { /* no state */ }
      }
    }
  }
  const removed: string[] = [];
  const kept: string[] = [];
  if (!fs.existsSync(vmImageCache())) return { removed, kept };
  for (const name of names) {
    const current = path.basename((await vmImageStatus(name)).dir);
    for (const e of fs.readdirSync(vmImageCache())) {
      if (!new RegExp(`^${name}-[0-9a-f]{12}$`).test(e) || e === current) continue;
      const dir = path.join(vmImageCache(), e);
      if (inUse.has(path.resolve(dir))) {
        kept.push(e);
        continue;
      }
      fs.rmSync(dir, { recursive: true, force: true });
      fs.rmSync(`${dir}.log`, { force: true });
      removed.push(e);
    }
  }
  return { removed, kept };
}
