// The apt PatchProvisioner: installs an archive update's exact package set from the lab's
// update server (apt resolves dependencies there; unattended, config files kept), downgrades
// back to exactly the versions the machine had (removing what the update newly pulled in),
// and checks dpkg's own view after each step. A dependency neither the batch nor the update
// server has is the harness's problem (needs review), never the patch's.
import type { AptPatch, Patch } from "../config/schemas.ts";
import { ConfigError, PatchError } from "../core/errors.ts";
import type { Connection } from "../lab/types.ts";
import { shq } from "../lab/roles/common.ts";
import { runStep } from "./exec.ts";
import { installedPackages, type InstalledPackage } from "../inventory/inventory.ts";
import type { MachinePlan } from "../catalog/resolve.ts";
import { REPO_SUITE } from "../catalog/repo.ts";
import type { Universe } from "../catalog/universe.ts";
import type { AptArtifactPackage, PatchArtifact, PatchProvisioner, StepOutcome } from "./types.ts";

export const LAB_KEYRING = "/etc/apt/keyrings/patchlab-lab-updates.gpg";
const APT_ENV = { DEBIAN_FRONTEND: "noninteractive", DEBCONF_NONINTERACTIVE_SEEN: "true", APT_LISTCHANGES_FRONTEND: "none" };
/** Deadline of one apt-get install or downgrade (dpkg's maintainer scripts included). */
const STEP_MS = 900_000;
const shellWords = (words: string[]): string => words.map(shq).join(" ");
const APT_OPTS = ["-y", "-q", "--no-install-recommends", "-o", "Dpkg::Options::=--force-confold", "-o", "Dpkg::Use-Pty=0", "-o", "APT::Get::Allow-Unauthenticated=false"];

/** Check every package of an apt manifest against the signed indexes; nothing is downloaded here. */
export function prepareApt(patch: Patch, manifestFile: string, universe: Universe): PatchArtifact {
  if (patch.kind !== "apt") throw new ConfigError(`${manifestFile}: patch ${patch.id} is of kind ${patch.kind}, not apt`, "prepare it with its own kind's provisioner");
  const packages: AptArtifactPackage[] = patch.apt.packages.map((p, i) => {
    const u = universe.find(p.name, p.version);
    const field = `apt.packages[${i}]`;
    if (!u || u.stanza["Architecture"] !== p.architecture) {
      const versions = universe.get(p.name).map((x) => `${x.stanza["Version"]} (${x.suite})`);
      throw new ConfigError(
        `${manifestFile}: ${field}: ${p.name} ${p.version} (${p.architecture}) is not on the update server: no signed Debian index (${universe.indexes.map((x) => x.suite).join(", ")}) has it${versions.length ? `; it has ${versions.join(", ")}` : ""}`,
        "the lab update server carries only packages from Debian's signed indexes: fix the name or version, or re-import the catalog (`patchlab catalog import debian`)",
        { file: manifestFile, field, value: `${p.name}=${p.version}` },
      );
    }
    if (u.stanza["SHA256"] !== p.sha256) {
      throw new ConfigError(
        `${manifestFile}: ${field}.sha256: ${p.name} ${p.version} has sha256 ${u.stanza["SHA256"]} in the signed ${u.suite} index, the manifest says ${p.sha256}`,
        "the manifest does not describe Debian's package: re-import it (`patchlab catalog import debian`) rather than editing hashes",
        { file: manifestFile, field: `${field}.sha256`, value: p.sha256 },
      );
    }
    return { name: p.name, version: p.version, architecture: p.architecture, sha256: p.sha256, stanza: u.stanza, url: `${u.mirror}/${u.stanza["Filename"]}` };
  });
  return {
    patch,
    manifestFile,
    payload: packages.map((p) => ({ package: p.name, version: p.version, sha256: p.sha256 })),
    debFile: "",
    package: patch.apt.source,
    version: patch.apt.version,
    apt: { suite: patch.apt.suite, packages },
  };
}

export interface AptProvisionerOptions {
  /** The update server's address on the lab network. */
  serverIp: string;
  /** The lab key's public keyring (binary). */
  keyring: Buffer;
  /** Per machine and patch: what to install and whether the server has everything. */
  plans: Map<string, MachinePlan>;
}

export const planKey = (machine: string, patch: string) => `${machine}\u0000${patch}`;

/** A failed apt-get that never reached dpkg (resolver, missing package): not the patch's doing. */
export function resolverFailure(output: string): string | undefined {
  const lines = output.split("\n");
  const unmet = lines.filter((l) => /Depends: |PreDepends: |Breaks: |Conflicts: /.test(l) && /not installable|not going to be installed|but .* is to be installed|but it is not/.test(l)).map((l) => l.trim());
  if (unmet.length) return `unmet dependencies on the update server: ${unmet.slice(0, 4).join("; ")}`;
  const notFound = lines.find((l) => /^E: (Version '.*' for '.*' was not found|Unable to locate package .*|Package '.*' has no installation candidate)/.test(l));
  if (notFound) return notFound.replace(/^E: /, "");
  if (lines.some((l) => /^E: (Unable to correct problems|The repository .* is not signed|Failed to fetch)/.test(l))) return lines.filter((l) => l.startsWith("E: ")).join(" ");
  return undefined;
}

function tail(s: string, n = 3): string {
  return s.split("\n").filter(Boolean).slice(-n).join(" | ").slice(0, 400);
}

export class AptProvisioner implements PatchProvisioner {
  private readonly before = new Map<string, Map<string, InstalledPackage>>();
  /** Machines whose sources point at the update server since the start of this verification. */
  private readonly pointed = new Set<string>();
  /** Plans of combined transactions (combine()), kept apart from the caller's per-patch plans. */
  private readonly combined = new Map<string, MachinePlan>();

  constructor(private readonly o: AptProvisionerOptions) {}

  private plan(conn: Connection, a: PatchArtifact): MachinePlan | undefined {
    const key = planKey(conn.machine, a.patch.id);
    return this.combined.get(key) ?? this.o.plans.get(key);
  }

  /** During a run, the machine's apt sources are the update server and nothing else. */
  private async pointAtUpdateServer(conn: Connection): Promise<StepOutcome | undefined> {
    await conn.upload([
      { path: LAB_KEYRING, content: this.o.keyring, mode: 0o644 },
      { path: "/etc/apt/sources.list", content: `# patchlab run: the lab update server only\ndeb [signed-by=${LAB_KEYRING}] http://${this.o.serverIp}/ ${REPO_SUITE} main\n`, mode: 0o644 },
    ]);
    const r = await conn.exec(["sh", "-c", "rm -f /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources; apt-get -q -o Acquire::Retries=2 update"], { timeoutMs: 180_000, env: APT_ENV });
    const out = (r.stdout + r.stderr).trim();
    if (r.exitCode !== 0 || /^(W|E): /m.test(out)) {
      this.pointed.delete(conn.machine);
      return { ok: false, blame: "harness", message: `apt-get update from the lab update server ${this.o.serverIp} failed: ${tail(out)}`, output: out, durationMs: 0 };
    }
    this.pointed.add(conn.machine);
    return undefined;
  }

  /** Once per verification, before its state before install: the sources are the harness's doing, not the patch's. */
  async prepare(conn: Connection, artifacts: PatchArtifact[]): Promise<void> {
    this.pointed.delete(conn.machine);
    // A new verification starts from the snapshot: what an earlier one kept to downgrade to is stale.
    for (const k of [...this.before.keys()]) if (k.startsWith(`${conn.machine}\u0000`)) this.before.delete(k);
    if (artifacts.some((a) => this.plan(conn, a)?.install.length)) await this.pointAtUpdateServer(conn);
  }

  /**
   * Several apt updates as one apt-get transaction, as `apt upgrade` applies them in production:
   * the union of their packages (one version per package, or no combining), one install, one
   * downgrade. Not combined when any of them cannot be installed here: each then says why.
   */
  combine(conn: Connection, group: PatchArtifact[]): PatchArtifact | undefined {
    if (group.length < 2 || group.some((a) => a.patch.kind !== "apt" || !a.apt)) return undefined;
    const plans = group.map((a) => this.plan(conn, a));
    if (plans.some((x) => !x || x.install.length === 0 || x.missing.length)) return undefined;
    const install = new Map<string, { name: string; version: string }>();
    for (const pk of plans.flatMap((x) => x!.install)) {
      if (install.has(pk.name) && install.get(pk.name)!.version !== pk.version) return undefined;
      install.set(pk.name, pk);
    }
    const id = group.map((a) => a.patch.id).join("+");
    this.combined.set(planKey(conn.machine, id), { machine: conn.machine, install: [...install.values()], publish: [], missing: [], noRollback: [...new Set(plans.flatMap((x) => x!.noRollback))] });
    const first = group[0]!;
    return {
      ...first,
      patch: { ...first.patch, id, title: `${group.length} updates in one transaction` },
      payload: group.flatMap((a) => a.payload),
      apt: { suite: first.apt!.suite, packages: group.flatMap((a) => a.apt!.packages) },
      members: group,
    };
  }

  async isInstalled(conn: Connection, a: PatchArtifact): Promise<boolean> {
    const now = await installedPackages(conn);
    const want = this.plan(conn, a)?.install ?? (a.apt?.packages ?? []).filter((p) => now.has(p.name));
    return want.length > 0 && want.every((p) => now.get(p.name)?.version === p.version);
  }

  async install(conn: Connection, a: PatchArtifact): Promise<StepOutcome> {
    const started = Date.now();
    const done = (o: Omit<StepOutcome, "durationMs">): StepOutcome => ({ ...o, durationMs: Date.now() - started });
    const plan = this.plan(conn, a);
    if (!plan) return done({ ok: false, blame: "harness", message: `no update-server plan for ${a.patch.id} on ${conn.machine} (harness bug)`, output: "" });
    if (plan.install.length === 0) {
      return done({ ok: false, blame: "harness", message: `${conn.machine} has none of ${a.patch.id}'s packages: nothing to install there`, output: "" });
    }
    if (plan.missing.length) {
      return done({ ok: false, blame: "harness", message: `needs review: ${plan.missing.join("; ")} is in neither the batch nor the lab update server, so ${a.patch.id} cannot be installed on ${conn.machine}`, output: "" });
    }
    // Pointed already by prepare() for this verification, or now (and a failure says why).
    const notReady = this.pointed.has(conn.machine) ? undefined : await this.pointAtUpdateServer(conn);
    if (notReady) return done(notReady);
    // A second install (the idempotence check) keeps what the machine had before the first.
    if (!this.before.has(planKey(conn.machine, a.patch.id))) this.before.set(planKey(conn.machine, a.patch.id), await installedPackages(conn));
    // runStep: killed inside the machine at the deadline, a machine that died or a full disk is the lab's error.
    const r = await runStep(conn, shellWords(["apt-get", ...APT_OPTS, "install", ...plan.install.map((p) => `${p.name}=${p.version}`)]), { timeoutMs: STEP_MS, env: APT_ENV });
    const output = r.output;
    if (r.timedOut) return done({ ok: false, blame: "patch", timedOut: true, message: `install timed out: apt-get install ${a.patch.id} was still running after ${STEP_MS / 1000} s and was killed: ${tail(output)}`, output });
    if (r.exitCode !== 0) {
      const resolver = resolverFailure(output);
      if (resolver) return done({ ok: false, blame: "harness", message: `needs review: apt could not install ${a.patch.id} on ${conn.machine}: ${resolver}`, output });
      return done({ ok: false, blame: "patch", message: `apt-get install ${a.patch.id} exited ${r.exitCode}: ${tail(output)}`, output });
    }
    const now = await installedPackages(conn);
    const wrong = plan.install.filter((p) => now.get(p.name)?.version !== p.version);
    if (wrong.length) {
      return done({ ok: false, blame: "patch", message: `after apt-get install, ${wrong.map((p) => `${p.name} is ${now.get(p.name)?.version ?? "absent"}, not ${p.version}`).join("; ")}`, output });
    }
    return done({ ok: true, message: `${plan.install.map((p) => `${p.name} ${p.version}`).join(", ")} installed from the lab update server`, output });
  }

  async uninstall(conn: Connection, a: PatchArtifact): Promise<StepOutcome> {
    const started = Date.now();
    const done = (o: Omit<StepOutcome, "durationMs">): StepOutcome => ({ ...o, durationMs: Date.now() - started });
    const before = this.before.get(planKey(conn.machine, a.patch.id));
    if (!before) throw new PatchError(a.patch.id, "uninstall", `uninstall of ${a.patch.id} on ${conn.machine} before its install`, "this is a harness bug: uninstall must follow install");
    const after = await installedPackages(conn);
    const back: string[] = [];
    const remove: string[] = [];
    for (const name of new Set([...before.keys(), ...after.keys()])) {
      const b = before.get(name);
      const c = after.get(name);
      if (b && c?.version !== b.version) back.push(`${name}=${b.version}`);
      else if (!b && c) remove.push(name);
    }
    const plan = this.plan(conn, a);
    const blocked = (plan?.noRollback ?? []).filter((x) => back.some((b) => b.startsWith(`${x.split(" ")[0]}=`)));
    if (blocked.length) {
      return done({ ok: false, blame: "harness", message: `needs review: cannot downgrade ${blocked.join(", ")}: that version is in no signed Debian index the update server draws on`, output: "" });
    }
    if (back.length + remove.length === 0) return done({ ok: true, message: "nothing changed by the install: nothing to undo", output: "" });
    const r = await runStep(conn, shellWords(["apt-get", ...APT_OPTS, "--allow-downgrades", "--purge", "install", ...back, ...remove.map((n) => `${n}-`)]), { timeoutMs: STEP_MS, env: APT_ENV });
    const output = r.output;
    if (r.timedOut) return done({ ok: false, blame: "patch", timedOut: true, message: `uninstall timed out: downgrade of ${a.patch.id} was still running after ${STEP_MS / 1000} s and was killed: ${tail(output)}`, output });
    if (r.exitCode !== 0) {
      const resolver = resolverFailure(output);
      if (resolver) return done({ ok: false, blame: "harness", message: `needs review: apt could not downgrade ${a.patch.id} on ${conn.machine}: ${resolver}`, output });
      return done({ ok: false, blame: "patch", message: `downgrade of ${a.patch.id} exited ${r.exitCode}: ${tail(output)}`, output });
    }
    const now = await installedPackages(conn);
    const off = [
      ...[...before].filter(([n, b]) => now.get(n)?.version !== b.version && (back.some((x) => x.startsWith(`${n}=`)) || !now.has(n))).map(([n, b]) => `${n} is ${now.get(n)?.version ?? "absent"}, not ${b.version}`),
      ...remove.filter((n) => now.has(n)).map((n) => `${n} is still installed`),
    ];
    if (off.length) return done({ ok: false, blame: "patch", message: `after the downgrade, ${off.slice(0, 5).join("; ")}`, output });
    this.before.delete(planKey(conn.machine, a.patch.id));
    return done({ ok: true, message: `back to ${back.join(", ") || "the previous versions"}${remove.length ? `; removed ${remove.join(", ")}` : ""}`, output });
  }
}

export const isAptPatch = (p: Patch): p is AptPatch => p.kind === "apt";
