// The .deb PatchProvisioner: prepares the package file on the harness, installs it
// unattended on a machine, checks it took, and uninstalls it again.
import { createHash } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import os from "node:os";
import type { Patch } from "../config/schemas.ts";
import { ChildFailed, runChild } from "../core/child.ts";
import { ConfigError, LabError, PatchError } from "../core/errors.ts";
import { envNameFor, timeoutMs } from "../core/timeouts.ts";
import type { Connection } from "../lab/types.ts";
import type { PatchArtifact, PatchProvisioner, StepOutcome } from "./types.ts";

export type { PatchArtifact, PatchProvisioner, PayloadItem, StepOutcome } from "./types.ts";

async function dpkgDeb(args: string[], what: string, where: { file: string; field: string }): Promise<string> {
  const deadline = timeoutMs("dpkg-deb"); // a bad override is its own error, not dpkg-deb's
  try {
    return (
      await runChild("dpkg-deb", args, {
        timeoutMs: deadline,
        what: `dpkg-deb for ${what}`,
        timeoutRemedy: `a package this slow to build or read is unusual: check the host's load and disk; raise ${envNameFor("dpkg-deb")} for a very large package`,
      })
    ).stdout;
  } catch (e) {
    if (e instanceof LabError) throw e;
    const err = e as NodeJS.ErrnoException;
    if (err.code === "ENOENT") {
      throw new LabError("dependency-missing", "dpkg-deb is not installed on the harness", "install it: `apt-get install dpkg` (Debian/Ubuntu)");
    }
    const stderr = e instanceof ChildFailed ? e.result.stderr : err.message;
    throw new ConfigError(`${what}: dpkg-deb failed: ${stderr.trim()}`, "fix the package tree (DEBIAN/control must be a valid control file) or the .deb file", where);
  }
}

/** Build (for `deb.build`) or locate (for `deb.file`) the patch's .deb and read its identity. */
export async function prepareDeb(patch: Patch, manifestFile: string, workDir: string): Promise<PatchArtifact> {
  if (patch.kind !== "deb") {
    throw new ConfigError(`${manifestFile}: patch ${patch.id} is of kind ${patch.kind}, not deb`, "prepare it with its own kind's provisioner (harness/patch/registry.ts)");
  }
  const base = path.dirname(manifestFile);
  if ("file" in patch.deb) {
    const debFile = path.resolve(base, patch.deb.file);
    if (!fs.existsSync(debFile)) {
      throw new ConfigError(`${manifestFile}: deb.file: ${debFile} does not exist`, "point deb.file at an existing .deb (relative to the manifest)", { file: manifestFile, field: "deb.file", value: patch.deb.file });
    }
    return { patch, manifestFile, debFile, ...(await identify(debFile, manifestFile, "deb.file")) };
  }
  const tree = path.resolve(base, patch.deb.build);
  // Built aside and copied into the run's directory only once it is good: a tree dpkg-deb
  // refuses is bad input, and bad input leaves nothing behind.
  const scratch = fs.mkdtempSync(path.join(os.tmpdir(), "patchlab-deb-"));
  try {
    const built = path.join(scratch, `${patch.id}.deb`);
    // --root-owner-group: the files belong to root on the machine whoever built the tree.
    await dpkgDeb(["--root-owner-group", "-Zgzip", "--build", tree, built], `${manifestFile}: deb.build`, { file: manifestFile, field: "deb.build" });
    const identity = await identify(built, manifestFile, "deb.build");
    fs.mkdirSync(workDir, { recursive: true });
    const debFile = path.join(workDir, `${patch.id}.deb`);
    fs.copyFileSync(built, debFile);
    return { patch, manifestFile, debFile, ...identity };
  } finally {
    fs.rmSync(scratch, { recursive: true, force: true });
  }
}

async function identify(debFile: string, manifestFile: string, field: string): Promise<Pick<PatchArtifact, "package" | "version" | "payload">> {
  const what = `${manifestFile}: ${field}`;
  const fields = await dpkgDeb(["-f", debFile, "Package", "Version"], what, { file: manifestFile, field });
  const pkg = /^Package: (.+)$/m.exec(fields)?.[1]?.trim();
  const version = /^Version: (.+)$/m.exec(fields)?.[1]?.trim();
  if (!pkg || !version) {
    throw new ConfigError(`${what}: ${debFile} has no Package/Version control fields`, "rebuild the .deb with a complete DEBIAN/control", { file: manifestFile, field });
  }
  const sha256 = createHash("sha256").update(fs.readFileSync(debFile)).digest("hex");
  return { package: pkg, version, payload: [{ package: pkg, version, sha256 }] };
}

const REMOTE_DIR = "/var/cache/patchlab";

/** What dpkg says of a package on a machine: "ii 1.2-3", or undefined when unknown. */
export async function packageState(conn: Connection, pkg: string): Promise<{ status: string; version: string } | undefined> {
  const r = await conn.exec(["dpkg-query", "-W", "-f=${db:Status-Abbrev}|${Version}", pkg]);
  if (r.exitCode !== 0) return undefined;
  const [status = "", version = ""] = r.stdout.split("|");
  return { status: status.trim(), version: version.trim() };
}

export class DebProvisioner implements PatchProvisioner {
  /** Versions present before install, so uninstall knows whether it removes or downgrades. */
  private readonly before = new Map<string, string | undefined>();

  async isInstalled(conn: Connection, a: PatchArtifact): Promise<boolean> {
    const s = await packageState(conn, a.package);
    return s?.status === "ii" && s.version === a.version;
  }

  async install(conn: Connection, a: PatchArtifact): Promise<StepOutcome> {
    const started = Date.now();
    const prior = await packageState(conn, a.package);
    this.before.set(`${conn.machine}/${a.package}`, prior?.status === "ii" ? prior.version : undefined);
    const remote = `${REMOTE_DIR}/${path.basename(a.debFile)}`;
    await conn.upload([{ path: remote, content: fs.readFileSync(a.debFile) }]);
    // Unattended: no prompts, keep the machine's own config files on conflict.
    const r = await conn.exec(["dpkg", "--force-confold", "-i", remote], {
      timeoutMs: 600_000,
      env: { DEBIAN_FRONTEND: "noninteractive", DEBCONF_NONINTERACTIVE_SEEN: "true" },
    });
    const output = (r.stdout + r.stderr).trim();
    const durationMs = Date.now() - started;
    if (r.exitCode !== 0) {
      return { ok: false, message: `dpkg -i ${a.package} ${a.version} exited ${r.exitCode}: ${lastLine(output)}`, output, durationMs };
    }
    if (!(await this.isInstalled(conn, a))) {
      const s = await packageState(conn, a.package);
      return { ok: false, message: `after dpkg -i, ${a.package} is "${s?.status ?? "unknown"} ${s?.version ?? ""}", not installed at ${a.version}`, output, durationMs };
    }
    return { ok: true, message: `${a.package} ${a.version} installed`, output, durationMs };
  }

  async uninstall(conn: Connection, a: PatchArtifact): Promise<StepOutcome> {
    const started = Date.now();
    const key = `${conn.machine}/${a.package}`;
    if (!this.before.has(key)) {
      throw new PatchError(a.patch.id, "uninstall", `uninstall of ${a.package} on ${conn.machine} before its install`, "this is a harness bug: uninstall must follow install");
    }
    const prior = this.before.get(key);
    if (prior !== undefined) {
      // An upgrade: going back needs the previous package, which later issues fetch from the archive.
      return { ok: false, blame: "harness", message: `${a.package} upgraded ${prior} -> ${a.version}; patchlab cannot roll back an upgrade yet (needs the previous package)`, output: "", durationMs: 0 };
    }
    const r = await conn.exec(["dpkg", "--purge", a.package], { timeoutMs: 600_000, env: { DEBIAN_FRONTEND: "noninteractive" } });
    const output = (r.stdout + r.stderr).trim();
    const s = await packageState(conn, a.package);
    const gone = !s || s.status.startsWith("u") || s.status.startsWith("p") || s.status === "un";
    const durationMs = Date.now() - started;
    if (r.exitCode !== 0 || !gone) {
      return { ok: false, message: `dpkg --purge ${a.package} exited ${r.exitCode}${gone ? "" : `, package still "${s?.status}"`}: ${lastLine(output)}`, output, durationMs };
    }
    return { ok: true, message: `${a.package} removed`, output, durationMs };
  }
}

function lastLine(s: string): string {
  return s.split("\n").filter(Boolean).slice(-2).join(" | ").slice(0, 300);
}
