// Patch kinds -> how to prepare a patch (before the lab is touched: bad input stops here),
// which machines it targets, and the provisioner that installs it. The run picks by kind.
import path from "node:path";
import type { Lab, Patch } from "../config/schemas.ts";
import { LabError } from "../core/errors.ts";
import { labKey } from "../catalog/lab-key.ts";
import { publishRepo, type RepoPackage } from "../catalog/repo.ts";
import { resolveOnMachine, type MachinePlan } from "../catalog/resolve.ts";
import { loadUniverse, type Universe } from "../catalog/universe.ts";
import { loadCatalog } from "../catalog/catalog.ts";
import { evaluateRules, inventoryNeeds, rulesOf, scanInventory } from "../inventory/detect.ts";
import { targetsOf as scanTargets } from "../inventory/scan.ts";
import { withStore } from "../store/open.ts";
import { collectInventory } from "../inventory/inventory.ts";
import { isInfrastructure } from "../inventory/lab-inventory.ts";
import type { Connection, MachineHandle } from "../lab/types.ts";
import { AptProvisioner, planKey, prepareApt } from "./apt.ts";
import { DebProvisioner, prepareDeb } from "./deb.ts";
import { FilesProvisioner, prepareFiles } from "./files.ts";
import { prepareScript, ScriptProvisioner } from "./script.ts";
import type { PatchArtifact, PatchProvisioner, StepOutcome } from "./types.ts";

export interface KindContext {
  lab: Lab;
  machines: MachineHandle[];
  connect(m: MachineHandle): Connection;
  progress?(line: string): void;
  /** The run, for the context of scans it stores. */
  runId?: string;
  /** Where uninstall backups are kept on the harness, and each install step's deadline. */
  provisioning?: { workDir?: string; stepTimeoutMs?: number };
}

type Prepare = (patch: Patch, manifestFile: string, workDir: string, shared: { universe?: () => Promise<Universe> }) => Promise<PatchArtifact>;

/** kind -> prepare function. */
export const preparers: Record<Patch["kind"], Prepare> = {
  deb: (patch, file, workDir) => prepareDeb(patch, file, workDir),
  apt: async (patch, file, _workDir, shared) => prepareApt(patch, file, await shared.universe!()),
  script: async (patch, file) => prepareScript(patch, file),
  files: async (patch, file) => prepareFiles(patch, file),
};

/** Prepare every patch of a batch (the signed indexes are loaded once, only if an apt patch needs them). */
export async function prepareArtifacts(patches: { patch: Patch; file: string }[], workDir: string): Promise<PatchArtifact[]> {
  let universe: Promise<Universe> | undefined;
  const shared = { universe: () => (universe ??= loadUniverse()) };
  const out: PatchArtifact[] = [];
  for (const p of patches) out.push(await preparers[p.patch.kind](p.patch, p.file, path.join(workDir), shared));
  return out;
}

const roleOk = (p: Patch, m: MachineHandle) => !p.appliesTo || p.appliesTo.roles.some((r) => m.spec.roles.includes(r));

/**
 * Which machines receive which patches. deb: every machine with one of its roles. apt: every
 * machine (with one of its roles, if it names any) that has the update's packages at an older
 * version, i.e. where a scan finds it missing. The update server itself never is a target.
 */
export async function targetsFor(artifacts: PatchArtifact[], ctx: KindContext, only?: Map<string, string[]>): Promise<Map<MachineHandle, PatchArtifact[]>> {
  const eligible = ctx.machines.filter((m) => !isInfrastructure(m));
  const apt = artifacts.filter((a) => a.patch.kind === "apt");
  const inventories = apt.length ? new Map(await Promise.all(eligible.map(async (m) => [m.spec.name, await collectInventory(ctx.connect(m), m.spec.roles)] as const))) : new Map();
  const out = new Map<MachineHandle, PatchArtifact[]>();
  for (const m of eligible) {
    const mine = artifacts.filter((a) => {
      const planned = only?.get(a.patch.id);
      if (planned) return planned.includes(m.spec.name);
      if (!roleOk(a.patch, m)) return false;
      if (a.patch.kind !== "apt") return true;
      return evaluateRules(rulesOf(a.patch), inventories.get(m.spec.name)!).status === "missing";
    });
    if (mine.length) out.set(m, mine);
  }
  return out;
}

/** Why a patch has no target, for people. */
export function noTargetReason(p: Patch, lab: string): string {
  if (p.kind !== "apt") return `no machine in lab ${lab} has a role in [${p.appliesTo.roles.join(", ")}]`;
  return `no machine in lab ${lab} lacks it (none has its packages at an older version${p.appliesTo ? ` among roles [${p.appliesTo.roles.join(", ")}]` : ""})`;
}

type AfterInstall = (conn: Connection, a: PatchArtifact, r: StepOutcome) => Promise<StepOutcome>;

/** One provisioner for a run: each artifact goes to its kind's provisioner. */
class ByKind implements PatchProvisioner {
  constructor(
    private readonly by: Partial<Record<Patch["kind"], PatchProvisioner>>,
    private readonly afterInstall?: AfterInstall,
  ) {}
  private of(a: PatchArtifact): PatchProvisioner {
    const p = this.by[a.patch.kind];
    if (!p) throw new LabError("harness", `no provisioner for patch kind ${a.patch.kind}`, "this is a patchlab bug");
    return p;
  }
  async install(conn: Connection, a: PatchArtifact): Promise<StepOutcome> {
    const r = await this.of(a).install(conn, a);
    return r.ok && this.afterInstall ? this.afterInstall(conn, a, r) : r;
  }
  uninstall(conn: Connection, a: PatchArtifact): Promise<StepOutcome> { return this.of(a).uninstall(conn, a); }
  isInstalled(conn: Connection, a: PatchArtifact): Promise<boolean> { return this.of(a).isInstalled(conn, a); }
  combine(conn: Connection, group: PatchArtifact[]): PatchArtifact | undefined {
    const kinds = new Set(group.map((a) => a.patch.kind));
    return kinds.size === 1 ? this.by[group[0]!.patch.kind]?.combine?.(conn, group) : undefined;
  }
  async prepare(conn: Connection, artifacts: PatchArtifact[]): Promise<void> {
    for (const kind of new Set(artifacts.map((a) => a.patch.kind))) await this.by[kind]?.prepare?.(conn, artifacts.filter((a) => a.patch.kind === kind));
  }
}

/** An apt provisioner that explains why nothing can be installed (undecided, not the patch's fault). */
class Unavailable implements PatchProvisioner {
  constructor(private readonly why: string) {}
  async install(): Promise<StepOutcome> { return { ok: false, blame: "harness", message: this.why, output: "", durationMs: 0 }; }
  async uninstall(): Promise<StepOutcome> { return { ok: false, blame: "harness", message: this.why, output: "", durationMs: 0 }; }
  async isInstalled(): Promise<boolean> { return false; }
}

/**
 * The run's provisioner. For apt patches this first fills the lab update server with what
 * each target machine needs (verified .debs, signed index) and narrows each artifact's payload
 * to exactly the packages that will be installed.
 */
export async function provisionerFor(artifacts: PatchArtifact[], targets: Map<MachineHandle, PatchArtifact[]>, ctx: KindContext): Promise<PatchProvisioner> {
  const po = ctx.provisioning ?? {};
  const by: Partial<Record<Patch["kind"], PatchProvisioner>> = { deb: new DebProvisioner(po), script: new ScriptProvisioner(po), files: new FilesProvisioner(po) };
  const apt = artifacts.filter((a) => a.patch.kind === "apt");
  const aptTargets = [...targets].filter(([, as]) => as.some((a) => a.patch.kind === "apt"));
  if (apt.length && aptTargets.length) {
    const server = ctx.machines.find((m) => m.spec.roles.includes("updates"));
    if (!server) {
      by.apt = new Unavailable(`needs review: lab ${ctx.lab.name} has no update server (a machine with role updates), so apt patches cannot be installed`);
    } else {
      const universe = await loadUniverse();
      const plans = new Map<string, MachinePlan>();
      const publish: RepoPackage[] = [];
      for (const [m, as] of aptTargets) {
        const inv = await collectInventory(ctx.connect(m), m.spec.roles);
        for (const a of as.filter((x) => x.patch.kind === "apt")) {
          const plan = resolveOnMachine(a.apt!.packages, inv, universe);
          plans.set(planKey(m.spec.name, a.patch.id), plan);
          publish.push(...plan.publish.map((u) => ({ stanza: u.stanza, url: `${u.mirror}/${u.stanza["Filename"]}` })));
        }
      }
      for (const a of apt) {
        const installed = new Set([...plans].filter(([k]) => k.endsWith(`\u0000${a.patch.id}`)).flatMap(([, p]) => p.install.map((x) => x.name)));
        if (installed.size) a.payload = a.payload.filter((p) => installed.has(p.package));
      }
      const key = await labKey(ctx.lab.name);
      ctx.progress?.(`${server.spec.name}: publishing ${new Set(publish.map((p) => p.stanza["Filename"])).size} package(s) to the lab update server`);
      const r = await publishRepo(ctx.connect(server), publish, key);
      ctx.progress?.(`${server.spec.name}: update server ready (${r.uploaded} new .deb(s), ${r.total} in this batch's index)`);
      by.apt = new AptProvisioner({ serverIp: server.ip, keyring: key.publicKeyring, plans });
    }
  }
  return new ByKind(by, apt.length ? scanAfterInstall(artifacts, ctx) : undefined);
}

/**
 * After an apt patch installs, the machine is scanned (catalog + batch) and the scan stored
 * with its context: the detection must now find the patch installed. If it still finds it
 * missing, the install "worked" by apt's account but not by the catalog's: needs review.
 */
function scanAfterInstall(artifacts: PatchArtifact[], ctx: KindContext): AfterInstall {
  let catalog: Promise<Patch[]> | undefined;
  return async (conn, a, r) => {
    if (a.patch.kind !== "apt") return r;
    const started = new Date().toISOString();
    const m = ctx.machines.find((x) => x.spec.name === conn.machine);
    catalog ??= loadCatalog().then((es) => es.map((e) => e.patch)).catch(() => []);
    const byId = new Map<string, Patch>();
    for (const p of [...(await catalog), ...artifacts.map((x) => x.patch)]) byId.set(p.id, p);
    const patches = [...byId.values()];
    const targets = scanTargets(patches);
    const inv = await collectInventory(conn, m?.spec.roles ?? [], inventoryNeeds(targets));
    const results = scanInventory(inv, targets);
    await withStore((store) =>
      store.saveScan({
        lab: ctx.lab.name,
        startedAt: started,
        finishedAt: new Date().toISOString(),
        baseline: false,
        context: `${ctx.runId ? `run ${ctx.runId}: ` : ""}after installing ${a.patch.id}`,
        patches: patches.map((p) => ({ id: p.id, title: p.title, severity: p.severity, kind: p.kind })),
        machines: [{ machine: conn.machine, packages: inv.packages, results }],
      }),
    );
    // A combined artifact: each of its patches must now be found installed.
    const ids = (a.members ?? [a]).map((x) => x.patch.id);
    const mine = ids.map((id) => results.find((x) => x.patch === id)!);
    const missing = mine.filter((x) => x.status === "missing");
    if (missing.length) {
      return { ...r, ok: false, blame: "harness", message: `needs review: ${r.message}, but the scan still finds ${missing.map((x) => `${x.patch} missing: ${x.detail}`).join("; ")}` };
    }
    return { ...r, message: `${r.message}; a scan now finds ${ids.length === 1 ? `it ${mine[0]!.status}` : `each ${[...new Set(mine.map((x) => x.status))].join(" or ")}`}` };
  };
}
