// `patchlab doctor [--fix]`: one idempotent setup step shared by `npm test` and `npm run demo`.
// Each check says what is wrong and, with --fix, puts it right where it safely can
// (as root on Debian: apt packages, a background dockerd, the lab images).
import fs from "node:fs";
import { spawn, execFile } from "node:child_process";
import { promisify } from "node:util";
import { runChild } from "./core/child.ts";
import { LabError } from "./core/errors.ts";
import { envNameFor, timeoutMs } from "./core/timeouts.ts";
import { docker, engineAnswers } from "./lab/drivers/docker-engine.ts";
import { ensureImages, imageStatus, removeStaleImages } from "./lab/images/build.ts";

const run = promisify(execFile);

export interface CheckReport {
  name: string;
  ok: boolean;
  detail: string;
  fixed?: boolean;
  remedy?: string;
}

export interface DoctorOptions {
  fix: boolean;
  /** Image names to make sure of (default: every image the reference lab uses). */
  images: string[];
  say: (line: string) => void;
}

const isRoot = () => process.getuid?.() === 0;
const isDebian = () => fs.existsSync("/etc/debian_version");
const has = (file: string) => fs.existsSync(file);

async function which(cmd: string): Promise<string | undefined> {
  try {
    return (await run("sh", ["-c", `command -v ${cmd}`], { timeout: 10_000 })).stdout.trim() || undefined;
  } catch {
    return undefined;
  }
}

/** apt-get with a deadline: a mirror that stops answering must not hang `doctor --fix` (and `npm test`) forever. */
function aptGet(args: string[], env: NodeJS.ProcessEnv) {
  return runChild("apt-get", args, {
    env,
    maxBuffer: 64 << 20,
    timeoutMs: timeoutMs("apt-get"),
    what: `apt-get ${args.filter((a) => !a.startsWith("-")).join(" ")}`,
    timeoutRemedy: `the Debian mirror is slow or unreachable: check \`apt-get update\` by hand; raise ${envNameFor("apt-get")} on a slow link`,
  });
}

let aptUpdated = false;
async function aptInstall(pkgs: string[], say: (l: string) => void): Promise<void> {
  if (!isRoot() || !isDebian()) {
    throw new LabError("dependency-missing", `need Debian packages: ${pkgs.join(" ")}`, `install them: sudo apt-get install ${pkgs.join(" ")}`);
  }
  const env = { ...process.env, DEBIAN_FRONTEND: "noninteractive" };
  if (!aptUpdated) {
    say("apt-get update");
    // A source that cannot be reached (a third-party repo on a closed network) must not stop
    // the install from Debian's own archive; the install below fails clearly if it matters.
    await aptGet(["update", "-q"], env).catch((e: Error) => say(`apt-get update reported a problem (continuing): ${e.message.split("\n")[0]}`));
    aptUpdated = true;
  }
  say(`apt-get install ${pkgs.join(" ")}`);
  // With recommends: that is the set verified on these machines (docker.io brings
  // cgroupfs-mount and xz-utils, debootstrap the archive keyring it checks signatures with).
  try {
    await aptGet(["install", "-y", "-q", ...pkgs], env);
  } catch (e) {
    if (e instanceof LabError) throw e; // a timeout says so itself
    const err = e as Error & { result?: { stderr: string } };
    throw new LabError("dependency-missing", `apt-get install ${pkgs.join(" ")} failed: ${(err.result?.stderr || err.message).trim().split("\n").slice(-3).join(" | ")}`, `install them by hand (apt-get install ${pkgs.join(" ")}) and re-run`);
  }
}

/** A host tool that comes from a Debian package. */
async function tool(name: string, cmdPath: string, pkgs: string[], why: string, o: DoctorOptions): Promise<CheckReport> {
  if (has(cmdPath) || (await which(name))) return { name, ok: true, detail: cmdPath };
  const remedy = `apt-get install ${pkgs.join(" ")} (${why})`;
  if (!o.fix) return { name, ok: false, detail: "not installed", remedy };
  await aptInstall(pkgs, o.say);
  return { name, ok: true, detail: cmdPath, fixed: true };
}

async function startDockerd(say: (l: string) => void): Promise<void> {
  const dockerd = (await which("dockerd")) ?? "/usr/sbin/dockerd";
  say("starting dockerd in the background (log: /var/log/patchlab-dockerd.log)");
  const out = fs.openSync("/var/log/patchlab-dockerd.log", "a");
  const child = spawn(dockerd, [], { detached: true, stdio: ["ignore", out, out] });
  child.unref();
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    if (await engineAnswers(docker(), 2000)) return;
    if (child.exitCode !== null) break;
    await new Promise((r) => setTimeout(r, 500));
  }
  throw new LabError("engine-unreachable", "dockerd did not answer within 60 s of starting", "read /var/log/patchlab-dockerd.log; another dockerd or a stale /var/run/docker.pid may be in the way");
}

async function engine(o: DoctorOptions): Promise<CheckReport> {
  if (await engineAnswers()) {
    const v = await docker().version();
    return { name: "docker engine", ok: true, detail: `Docker ${v.Version} answering` };
  }
  const remedy = isRoot() && isDebian()
    ? "run `patchlab doctor --fix` (installs docker.io and starts dockerd)"
    : "install Docker (Debian: apt-get install docker.io) and start it (systemctl start docker)";
  if (!o.fix) return { name: "docker engine", ok: false, detail: "no engine answers", remedy };
  if (!isRoot() || !isDebian()) throw new LabError("engine-unreachable", "no Docker engine answers and patchlab can only install one as root on Debian", remedy);
  if (!(await which("dockerd"))) await aptInstall(["docker.io"], o.say);
  await startDockerd(o.say);
  return { name: "docker engine", ok: true, detail: "dockerd started", fixed: true };
}

async function images(o: DoctorOptions): Promise<CheckReport> {
  const status = await imageStatus(docker(), o.images);
  const missing = status.filter((s) => !s.built).map((s) => s.name);
  if (missing.length === 0) {
    // Tags of recipes that changed since are dead weight (a few hundred MB each); images a
    // machine still runs on are kept.
    const stale = o.fix ? (await removeStaleImages(docker())).removed : [];
    return { name: "lab images", ok: true, detail: `${o.images.length} images current${stale.length ? `; removed stale ${stale.join(", ")}` : ""}` };
  }
  if (!o.fix) return { name: "lab images", ok: false, detail: `not built for the current recipe: ${missing.join(", ")}`, remedy: "run `patchlab doctor --fix` (builds them from Debian packages, a few minutes the first time)" };
  o.say(`building lab images: ${missing.join(", ")} (first time only; later runs reuse them)`);
  await ensureImages(docker(), o.images, { onProgress: o.say });
  return { name: "lab images", ok: true, detail: `built ${missing.join(", ")}`, fixed: true };
}

export async function doctor(o: DoctorOptions): Promise<CheckReport[]> {
  const reports: CheckReport[] = [];
  const major = Number(process.versions.node.split(".")[0]);
  reports.push({ name: "node", ok: major >= 20, detail: process.version, ...(major >= 20 ? {} : { remedy: "use Node 20 or later" }) });
  // Order matters: the engine before images; host tools the lab and reports need.
  reports.push(await tool("dpkg-deb", "/usr/bin/dpkg-deb", ["dpkg"], "builds patch packages", o));
  reports.push(await tool("dpkg-repack", "/usr/bin/dpkg-repack", ["dpkg-repack"], "keeps the pre-patch version of an upgraded package, so uninstall can go back to it", o));
  reports.push(await tool("openssl", "/usr/bin/openssl", ["openssl"], "issues the lab CA and certificates", o));
  reports.push(await tool("debootstrap", "/usr/sbin/debootstrap", ["debootstrap"], "builds the lab base image", o));
  reports.push(await tool("chromium", "/usr/bin/chromium", ["chromium"], "the browser Playwright drives", o));
  reports.push(await tool("java", "/usr/bin/java", ["openjdk-17-jre-headless"], "allure-commandline needs Java", o));
  // The catalog (issue 7): verify Debian's signed feed, read its indexes, sign the lab update server's.
  reports.push(await tool("gpgv", "/usr/bin/gpgv", ["gpgv"], "verifies Debian's signed indexes", o));
  reports.push(await tool("debian keyring", "/usr/share/keyrings/debian-archive-keyring.gpg", ["debian-archive-keyring"], "the keys Debian signs its archive with", o));
  reports.push(await tool("gpg", "/usr/bin/gpg", ["gpg", "gpg-agent"], "signs the lab update server's index with the lab key", o));
  reports.push(await tool("xz", "/usr/bin/xz", ["xz-utils"], "decompresses Debian's Packages indexes", o));
  const e = await engine(o);
  reports.push(e);
  if (e.ok) reports.push(await images(o));
  else reports.push({ name: "lab images", ok: false, detail: "skipped: no engine", remedy: e.remedy ?? "" });
  return reports;
}
