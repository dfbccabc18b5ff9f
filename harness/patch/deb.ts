// The .deb PatchProvisioner: prepares the package file on the harness, installs it
// unattended on a machine, checks it took, and uninstalls it again. An upgrade of an
// installed package is uninstalled for real: the installed version is kept (backup.ts)
// before the upgrade and installed again on uninstall, back to exactly the pre-patch version.
import { createHash } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import os from "node:os";
import type { Patch } from "../config/schemas.ts";
import { ChildFailed, runChild } from "../core/child.ts";
import { ConfigError, LabError, PatchError, asPatchlabError } from "../core/errors.ts";
import { envNameFor, timeoutMs } from "../core/timeouts.ts";
import type { Connection } from "../lab/types.ts";
import { shq } from "../lab/roles/common.ts";
import { backupInstalled, restoreBackup, type PackageBackup } from "./backup.ts";
import { lastLines, query, REMOTE_DIR, runStep } from "./exec.ts";
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

/** What dpkg says of a package on a machine: "ii 1.2-3", or undefined when unknown. */
export async function packageState(conn: Connection, pkg: string): Promise<{ status: string; version: string } | undefined> {
  const r = await query(conn, ["dpkg-query", "-W", "-f=${db:Status-Abbrev}|${Version}", pkg]);
  if (r.exitCode !== 0) return undefined;
  const [status = "", version = ""] = r.stdout.split("|");
  return { status: status.trim(), version: version.trim() };
}

/** Run-wide defaults of the hotfix options; a manifest's `options:` overrides them. */
export interface DebProvisionerOptions {
  /** Where uninstall backups are kept on the harness (default: a temp folder). */
  workDir?: string;
  /** Step timeout for dpkg (default 10 minutes). */
  stepTimeoutMs?: number;
  /** Keep a backup of an upgraded package so uninstall can downgrade (default true). */
  uninstallBackup?: boolean;
  /** Keep maintainer scripts from (re)starting services; restart detection restarts what needs it (default false). */
  deferRestart?: boolean;
}

/** What the machine had before the patch, per machine and package. */
interface Prior {
  /** Installed version before the patch; undefined when the package was not installed. */
  version?: string;
  backup?: PackageBackup;
  /** Why there is no backup of an upgraded package. */
  noBackup?: string;
}

/** Packages a failed dependency check names: "x : Depends: libfoo (>= 2) but it is not installable". */
export function missingDependencies(aptOutput: string): string[] {
  const out = new Set<string>();
  const re = /(?:Pre-)?Depends: (.+?) but (?:it is not installable|it is not going to be installed|[^ ]+ is to be installed)/g;
  for (const m of aptOutput.matchAll(re)) out.add(m[1]!.trim());
  // dpkg's own wording, when apt could not say it first.
  for (const m of aptOutput.matchAll(/ depends on ([^;]+?); however:\n\s+Package ([^\s]+) is not (?:installed|configured yet)/g)) out.add(m[1]!.trim());
  return [...out];
}

const POLICY_RC = "/usr/sbin/policy-rc.d";

export class DebProvisioner implements PatchProvisioner {
  private readonly prior = new Map<string, Prior>();
  private readonly workDir: string;

  constructor(private readonly opts: DebProvisionerOptions = {}) {
    this.workDir = opts.workDir ?? path.join(os.tmpdir(), `patchlab-backups-${process.pid}`);
  }

  private options(a: PatchArtifact) {
    const o = a.patch.kind === "deb" ? a.patch.options : undefined;
    return {
      uninstallBackup: o?.uninstallBackup ?? this.opts.uninstallBackup ?? true,
      deferRestart: o?.deferRestart ?? this.opts.deferRestart ?? false,
      timeoutMs: this.opts.stepTimeoutMs ?? 600_000,
    };
  }

  /** The backup kept for a package on a machine (for disk-use reports and tests). */
  backupOf(machine: string, pkg: string): PackageBackup | undefined {
    return this.prior.get(`${machine}/${pkg}`)?.backup;
  }

  async isInstalled(conn: Connection, a: PatchArtifact): Promise<boolean> {
    const s = await packageState(conn, a.package);
    return s?.status === "ii" && s.version === a.version;
  }

  async install(conn: Connection, a: PatchArtifact): Promise<StepOutcome> {
    const started = Date.now();
    const o = this.options(a);
    const key = `${conn.machine}/${a.package}`;
    const out = (r: Omit<StepOutcome, "durationMs">): StepOutcome => ({ ...r, durationMs: Date.now() - started });
    const remote = `${REMOTE_DIR}/${path.basename(a.debFile)}`;
    await conn.upload([{ path: remote, content: fs.readFileSync(a.debFile) }]);
    try {
      // A dependency the machine lacks is nobody's verdict on the patch: say which, change nothing.
      const missing = await this.missingOnMachine(conn, remote);
      if (missing.length) {
        return out({ ok: false, blame: "harness", missing, message: `needs review: ${a.package} ${a.version} depends on ${missing.join(", ")}, which ${conn.machine} does not have and neither the batch nor the update server provides`, output: "" });
      }
      // A second install (idempotence check) keeps what the machine had before the first.
      if (!this.prior.has(key)) this.prior.set(key, await this.keepPrior(conn, a, o.uninstallBackup));
      const prior = this.prior.get(key)!;
      const defer = o.deferRestart ? await this.denyServiceActions(conn) : false;
      let r;
      try {
        // Unattended: no prompts, keep the machine's own config files on conflict.
        r = await runStep(conn, `dpkg --force-confold -i ${shq(remote)}`, { timeoutMs: o.timeoutMs });
      } finally {
        if (defer) await conn.exec(["rm", "-f", POLICY_RC]).catch(() => undefined);
      }
      const backupBytes = prior.backup?.bytes;
      const common = { output: r.output, exitCode: r.exitCode, ...(backupBytes !== undefined ? { backupBytes } : {}) };
      if (r.timedOut) {
        return out({ ok: false, blame: "patch", timedOut: true, message: `install timed out: dpkg -i ${a.package} ${a.version} was still running after ${Math.round(o.timeoutMs / 1000)} s and was killed: ${lastLines(r.output)}`, ...common });
      }
      if (r.exitCode !== 0) {
        const deps = missingDependencies(r.output);
        if (deps.length) return out({ ok: false, blame: "harness", missing: deps, message: `needs review: ${a.package} ${a.version} depends on ${deps.join(", ")}, missing on ${conn.machine}`, ...common });
        return out({ ok: false, message: `dpkg -i ${a.package} ${a.version} exited ${r.exitCode}: ${lastLines(r.output)}`, ...common });
      }
      if (!(await this.isInstalled(conn, a))) {
        const s = await packageState(conn, a.package);
        return out({ ok: false, message: `after dpkg -i, ${a.package} is "${s?.status ?? "unknown"} ${s?.version ?? ""}", not installed at ${a.version}`, ...common });
      }
      const from = prior.version === undefined ? "new" : prior.version === a.version ? "reinstalled" : `upgraded from ${prior.version}`;
      const kept = prior.backup ? `; uninstall backup ${prior.backup.version} kept (${prior.backup.bytes} bytes)` : prior.noBackup ? `; ${prior.noBackup}` : "";
      return out({ ok: true, message: `${a.package} ${a.version} installed (${from})${kept}`, ...common });
    } finally {
      await conn.exec(["rm", "-f", remote]).catch(() => undefined);
    }
  }

  async uninstall(conn: Connection, a: PatchArtifact): Promise<StepOutcome> {
    const started = Date.now();
    const o = this.options(a);
    const key = `${conn.machine}/${a.package}`;
    const prior = this.prior.get(key);
    if (!prior) {
      throw new PatchError(a.patch.id, "uninstall", `uninstall of ${a.package} on ${conn.machine} before its install`, "this is a harness bug: uninstall must follow install");
    }
    const out = (r: Omit<StepOutcome, "durationMs">): StepOutcome => ({ ...r, durationMs: Date.now() - started });
    if (prior.version === a.version) {
      return out({ ok: true, message: `${a.package} ${a.version} was installed before the patch: left as it was`, output: "" });
    }
    if (prior.version !== undefined) {
      if (!prior.backup) {
        return out({ ok: false, blame: "harness", message: `not possible: no backup: ${a.package} upgraded ${prior.version} -> ${a.version} and ${prior.noBackup ?? "no uninstall backup was kept"}; needs review`, output: "" });
      }
      const r = await restoreBackup(conn, prior.backup, o.timeoutMs);
      const s = await packageState(conn, a.package);
      const back = s?.status === "ii" && s.version === prior.version;
      const msg = { output: r.output, exitCode: r.exitCode };
      if (r.timedOut) return out({ ok: false, blame: "patch", timedOut: true, message: `uninstall timed out: downgrade of ${a.package} to ${prior.version} killed after ${Math.round(o.timeoutMs / 1000)} s: ${lastLines(r.output)}`, ...msg });
      if (r.exitCode !== 0 || !back) {
        return out({ ok: false, message: `downgrade of ${a.package} ${a.version} -> ${prior.version} ${r.exitCode !== 0 ? `exited ${r.exitCode}` : `left "${s?.status} ${s?.version}"`}: ${lastLines(r.output)}`, ...msg });
      }
      this.prior.delete(key);
      fs.rmSync(prior.backup.debFile, { force: true });
      return out({ ok: true, message: `${a.package} downgraded ${a.version} -> ${prior.version} (the pre-patch version, from the uninstall backup)`, ...msg });
    }
    const r = await runStep(conn, `dpkg --purge ${shq(a.package)}`, { timeoutMs: o.timeoutMs });
    const s = await packageState(conn, a.package);
    const gone = !s || s.status.startsWith("u") || s.status.startsWith("p") || s.status === "un";
    const msg = { output: r.output, exitCode: r.exitCode };
    if (r.timedOut) return out({ ok: false, blame: "patch", timedOut: true, message: `uninstall timed out: dpkg --purge ${a.package} killed after ${Math.round(o.timeoutMs / 1000)} s: ${lastLines(r.output)}`, ...msg });
    if (r.exitCode !== 0 || !gone) {
      return out({ ok: false, message: `dpkg --purge ${a.package} exited ${r.exitCode}${gone ? "" : `, package still "${s?.status}"`}: ${lastLines(r.output)}`, ...msg });
    }
    this.prior.delete(key);
    return out({ ok: true, message: `${a.package} removed`, ...msg });
  }

  /** Record the installed version; keep a backup when the patch upgrades it. */
  private async keepPrior(conn: Connection, a: PatchArtifact, wantBackup: boolean): Promise<Prior> {
    const s = await packageState(conn, a.package);
    if (s?.status !== "ii") return {};
    if (s.version === a.version) return { version: s.version };
    if (!wantBackup) return { version: s.version, noBackup: "no uninstall backup was kept (uninstallBackup: false)" };
    try {
      return { version: s.version, backup: await backupInstalled(conn, a.package, this.workDir) };
    } catch (e) {
      // Without a backup the patch can still be installed and checked; only its uninstall needs review.
      return { version: s.version, noBackup: `the uninstall backup failed: ${asPatchlabError(e).message}` };
    }
  }

  /** Dependencies `apt-get -s` says cannot be satisfied on the machine ([] when it cannot tell). */
  private async missingOnMachine(conn: Connection, remote: string): Promise<string[]> {
    const r = await query(conn, ["apt-get", "-s", "-q", "-o", "Debug::NoLocking=1", "install", remote]);
    return r.exitCode === 0 ? [] : missingDependencies(r.stdout + r.stderr);
  }

  /** Deny service actions to maintainer scripts (Debian's policy-rc.d); false when one is already there. */
  private async denyServiceActions(conn: Connection): Promise<boolean> {
    const r = await query(conn, `[ -e ${POLICY_RC} ] && exit 3; printf '#!/bin/sh\\n# patchlab: restart deferred\\nexit 101\\n' > ${POLICY_RC} && chmod 755 ${POLICY_RC}`);
    return r.exitCode === 0;
  }
}
