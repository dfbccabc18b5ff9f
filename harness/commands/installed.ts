// `patchlab installed [lab] -m machine`: which patches a machine has, asked of each patch's
// own provisioner (isInstalled), the way a patch manager lists the hotfixes on a server. The
// patches come from batch files, patch manifests or the catalog, or else the last run's batch.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { loadCatalog } from "../catalog/catalog.ts";
import { loadBatch, loadPatch } from "../config/loader.ts";
import type { Patch } from "../config/schemas.ts";
import { ConfigError, asPatchlabError } from "../core/errors.ts";
import { reportsRoot } from "../core/paths.ts";
import { AptProvisioner } from "../patch/apt.ts";
import { DebProvisioner, prepareDeb } from "../patch/deb.ts";
import { FilesProvisioner, prepareFiles } from "../patch/files.ts";
import { prepareScript, ScriptProvisioner } from "../patch/script.ts";
import type { PatchArtifact, PatchProvisioner } from "../patch/types.ts";
import { pickMachines, withLab } from "./lab.ts";

export interface InstalledOptions {
  machine: string;
  batch?: string[];
  patch?: string[];
  catalog?: boolean;
}

export interface InstalledRow {
  patch: string;
  kind: Patch["kind"];
  title: string;
  /** What it installs (package=version, or the payload's version). */
  identity: string;
  status: "installed" | "not installed" | "unknown";
  /** Why unknown (detection could not run or is broken). */
  detail?: string;
}

export interface InstalledResult {
  lab: string;
  machine: string;
  /** Where the patch list came from, for people. */
  source: string;
  rows: InstalledRow[];
}

/** The patches to look for, and where they came from. */
export async function patchesFrom(o: Omit<InstalledOptions, "machine">): Promise<{ source: string; patches: { patch: Patch; file: string }[] }> {
  const patches: { patch: Patch; file: string }[] = [];
  const sources: string[] = [];
  for (const b of o.batch ?? []) {
    const loaded = await loadBatch(b);
    patches.push(...loaded.patches.map((p) => ({ patch: p.patch, file: p.file })));
    sources.push(`batch ${b}`);
  }
  for (const f of o.patch ?? []) {
    const p = await loadPatch(f);
    patches.push({ patch: p.patch, file: p.file });
    sources.push(`patch ${f}`);
  }
  if (o.catalog) {
    const entries = await loadCatalog();
    patches.push(...entries.map((e) => ({ patch: e.patch, file: e.file })));
    sources.push(`catalog (${entries.length} entries)`);
  }
  if (sources.length === 0) {
    const runJson = path.join(reportsRoot(), "latest", "run.json");
    if (!fs.existsSync(runJson)) {
      throw new ConfigError("no patches to look for: no --batch, --patch or --catalog given, and no last run (reports/latest/run.json)", "name a batch (--batch lab-config/batches/demo.yaml), patch manifests (--patch FILE...) or --catalog");
    }
    const batch = (JSON.parse(fs.readFileSync(runJson, "utf8")) as { batch?: string }).batch;
    if (!batch || !fs.existsSync(batch)) {
      throw new ConfigError(`the last run's batch ${batch ?? "(none recorded)"} is gone`, "name a batch, patch manifests or --catalog");
    }
    const loaded = await loadBatch(batch);
    patches.push(...loaded.patches.map((p) => ({ patch: p.patch, file: p.file })));
    sources.push(`the last run's batch ${batch}`);
  }
  // The same patch from two sources is listed once.
  const seen = new Set<string>();
  return { source: sources.join(", "), patches: patches.filter((p) => !seen.has(p.patch.id) && seen.add(p.patch.id)) };
}

/** What detection needs of each kind; apt needs no update server to look at installed versions. */
async function artifactOf(patch: Patch, file: string, workDir: string): Promise<PatchArtifact> {
  switch (patch.kind) {
    case "deb":
      return prepareDeb(patch, file, workDir);
    case "script":
      return prepareScript(patch, file);
    case "files":
      return prepareFiles(patch, file);
    case "apt": {
      const packages = patch.apt.packages.map((p) => ({ name: p.name, version: p.version, architecture: p.architecture, sha256: p.sha256, stanza: {}, url: "" }));
      return { patch, manifestFile: file, debFile: "", package: patch.apt.source, version: patch.apt.version, payload: packages.map((p) => ({ package: p.name, version: p.version, sha256: p.sha256 })), apt: { suite: patch.apt.suite, packages } };
    }
  }
}

function identityOf(a: PatchArtifact): string {
  if (a.patch.kind === "deb") return `${a.package}=${a.version}`;
  if (a.patch.kind === "apt") return `${a.package} ${a.version} (${a.apt?.packages.length ?? 0} package(s))`;
  return `${a.patch.kind} ${a.version}`;
}

export function provisionersForDetection(): Record<Patch["kind"], PatchProvisioner> {
  return {
    deb: new DebProvisioner(),
    apt: new AptProvisioner({ serverIp: "", keyring: Buffer.alloc(0), plans: new Map() }),
    script: new ScriptProvisioner(),
    files: new FilesProvisioner(),
  };
}

export async function installedCommand(labRef: string | undefined, o: InstalledOptions): Promise<InstalledResult> {
  // Bad input (missing manifests, payloads) stops here, before the lab is touched.
  const { source, patches } = await patchesFrom(o);
  const workDir = fs.mkdtempSync(path.join(os.tmpdir(), "patchlab-installed-"));
  try {
    const artifacts: PatchArtifact[] = [];
    for (const p of patches) artifacts.push(await artifactOf(p.patch, p.file, workDir));
    const by = provisionersForDetection();
    return await withLab(labRef, "installed", async (s) => {
      const [m] = pickMachines(s, [o.machine]);
      const conn = s.driver.connect(m!);
      const rows: InstalledRow[] = [];
      for (const a of artifacts) {
        const row = { patch: a.patch.id, kind: a.patch.kind, title: a.patch.title, identity: identityOf(a) };
        try {
          rows.push({ ...row, status: (await by[a.patch.kind].isInstalled(conn, a)) ? "installed" : "not installed" });
        } catch (e) {
          rows.push({ ...row, status: "unknown", detail: asPatchlabError(e).message });
        }
      }
      return { lab: s.lab.name, machine: m!.spec.name, source, rows };
    });
  } finally {
    fs.rmSync(workDir, { recursive: true, force: true });
  }
}

export function formatInstalled(r: InstalledResult): string {
  const n = r.rows.filter((x) => x.status === "installed").length;
  const lines = r.rows.map((x) => `  ${x.status.padEnd(13)} ${x.patch.padEnd(28)} ${x.kind.padEnd(6)} ${x.identity}${x.detail ? `\n      ${x.detail}` : ""}`);
  return [`${r.machine} (lab ${r.lab}): ${n} of ${r.rows.length} patch(es) installed — from ${r.source}`, ...lines].join("\n");
}
