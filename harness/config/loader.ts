// Load lab, patch and batch files into typed objects, or throw ConfigErrors listing
// every problem found (file:line:col, field, value, remedy). Nothing is changed on
// disk or in Docker here: a bad input stops before anything is created.
import fs from "node:fs";
import path from "node:path";
import { ConfigError, ConfigErrors } from "../core/errors.ts";
import { choices, isLabName, labFileFor, listLabs, resolveConfigRoot } from "./config-root.ts";
import { checkLab, withAbsoluteSitePaths } from "./lab-checks.ts";
import { parseYamlFile } from "./parse-yaml.ts";
import { checkPatch, debPathOf } from "./patch-checks.ts";
import { checkSupersedence } from "./supersedence.ts";
import { problemAt } from "./problem.ts";
import { Batch, Lab, Patch } from "./schemas.ts";
import { displayPath, type YamlSource } from "./yaml-source.ts";

export { checkLabFitsHost } from "./host-fit.ts";

export { parseYamlFile, type ParsedYaml, type ParseOptions, type CheckContext } from "./parse-yaml.ts";
export { resolveConfigRoot, listLabs, listImages } from "./config-root.ts";
export { LocatedConfigError } from "./problem.ts";

export interface LoadOptions {
  /** Root of lab-config (labs/, images/...). Default: $PATCHLAB_CONFIG_ROOT, else <repo>/lab-config. */
  configRoot?: string;
}

// The validated value and where it came from are kept apart, so a Lab passed on to
// drivers or hashed into fingerprints carries nothing but the lab itself.
export interface LoadedLab {
  lab: Lab;
  /** Absolute path of the lab file. */
  file: string;
  /** Where each value was written, for checks made later (against the host) to point at a line. */
  source?: YamlSource;
}
export interface LoadedPatch {
  patch: Patch;
  /** Absolute path of the manifest. */
  file: string;
  /** Absolute path of `deb.file` (a .deb) or `deb.build` (a package tree), resolved against the manifest. */
  debPath: string;
}
export interface LoadedBatch {
  batch: Batch;
  /** Absolute path of the batch file. */
  file: string;
  /** The batch's `lab:`, resolved and loaded. */
  lab: LoadedLab;
  /** The batch's `patches:`, resolved and loaded, in batch order. */
  patches: LoadedPatch[];
}

/** Load a lab by name (<configRoot>/labs/<name>.yaml) or by path. */
export async function loadLab(fileOrName: string, opts: LoadOptions = {}): Promise<LoadedLab> {
  const root = resolveConfigRoot(opts.configRoot);
  const file = isLabName(fileOrName) ? labFileFor(root, fileOrName) : path.resolve(fileOrName);
  const parsed = await parseYamlFile(file, Lab, {
    what: "lab",
    notFoundRemedy: labsRemedy(root),
    check: ({ source, data }) => checkLab(source, data, root),
  });
  return { lab: withAbsoluteSitePaths(parsed.value, path.dirname(parsed.file)), file: parsed.file, source: parsed.source };
}

/** Load a patch manifest; its `deb.file`/`deb.build` must exist next to it. */
export async function loadPatch(file: string): Promise<LoadedPatch> {
  const parsed = await parseYamlFile(file, Patch, {
    what: "patch manifest",
    check: ({ source, data }) => checkPatch(source, data),
  });
  return { patch: parsed.value, file: parsed.file, debPath: debPathOf(parsed.file, parsed.value)! };
}

/**
 * Load a batch with its lab and patches. Problems in the batch file and in every file
 * it names are reported together, so one run shows everything to fix.
 */
export async function loadBatch(file: string, opts: LoadOptions = {}): Promise<LoadedBatch> {
  const root = resolveConfigRoot(opts.configRoot);
  let lab: LoadedLab | undefined;
  const patches: Indexed[] = [];
  const parsed = await parseYamlFile(file, Batch, {
    what: "batch",
    check: async ({ source, data }) => {
      const problems: ConfigError[] = [];
      const record = isRecord(data) ? data : {};
      lab = await loadBatchLab(source, record["lab"], root, problems);
      const entries = Array.isArray(record["patches"]) ? record["patches"] : [];
      patches.push(...(await loadBatchPatches(source, entries, problems)));
      if (lab) problems.push(...checkApplicability(source, lab, patches));
      problems.push(
        ...checkSupersedence(
          source,
          patches.map((p) => ({ id: p.patch.id, supersedes: p.patch.kind === "apt" ? p.patch.apt.supersedes : [], index: p.index, file: displayPath(p.file) })),
        ),
      );
      return problems;
    },
  });
  // parseYamlFile throws if any check reported a problem, so both are loaded here.
  return { batch: parsed.value, file: parsed.file, lab: lab!, patches: patches.map(({ index: _, ...p }) => p) };
}

async function loadBatchLab(source: YamlSource, ref: unknown, root: string, problems: ConfigError[]): Promise<LoadedLab | undefined> {
  if (typeof ref !== "string" || ref === "") return undefined; // the schema reports it
  const file = isLabName(ref) ? labFileFor(root, ref) : path.resolve(path.dirname(source.file), ref);
  if (!fs.existsSync(file)) {
    problems.push(problemAt(source, ["lab"], `lab "${ref}" not found (looked for ${displayPath(file)})`, `${labsRemedy(root)}; a path is relative to this batch file`, { omitValue: true }));
    return undefined;
  }
  return collect(problems, () => loadLab(file, { configRoot: root }));
}

/** Batch patches with their index in `patches:`, so errors point at the right line. */
type Indexed = LoadedPatch & { index: number };

async function loadBatchPatches(source: YamlSource, entries: unknown[], problems: ConfigError[]): Promise<Indexed[]> {
  const dir = path.dirname(source.file);
  const seenFiles = new Map<string, number>();
  const loaded: Indexed[] = [];
  for (const [index, entry] of entries.entries()) {
    if (typeof entry !== "string" || entry === "") continue; // the schema reports it
    const abs = path.resolve(dir, entry);
    const at = ["patches", index];
    const dup = seenFiles.get(abs);
    if (dup !== undefined) {
      problems.push(problemAt(source, at, `${entry} is listed twice (also patches[${dup}], line ${lineOf(source, ["patches", dup])})`, "list each patch manifest once"));
      continue;
    }
    seenFiles.set(abs, index);
    if (!fs.existsSync(abs)) {
      problems.push(problemAt(source, at, `patch manifest not found: ${displayPath(abs)}`, `fix the path (it is relative to ${displayPath(dir)}/) or create the manifest`));
      continue;
    }
    const patch = await collect(problems, () => loadPatch(abs));
    if (!patch) continue;
    const id = patch.patch.id;
    const first = loaded.find((p) => p.patch.id === id);
    if (first) {
      problems.push(
        problemAt(
          source,
          at,
          `duplicate patch id "${id}": ${displayPath(abs)} and patches[${first.index}] (line ${lineOf(source, ["patches", first.index])}) share it`,
          `give each patch a unique \`id:\` (in ${displayPath(abs)} or ${displayPath(first.file)}), or remove one entry from this batch`,
        ),
      );
      continue;
    }
    loaded.push({ ...patch, index });
  }
  return loaded;
}

/** A patch no machine of the lab receives would be "verified" by testing nothing. */
function checkApplicability(source: YamlSource, { lab, file }: LoadedLab, patches: Indexed[]): ConfigError[] {
  const roles = new Set(lab.machines.flatMap((m) => m.roles));
  return patches
    // An apt patch without appliesTo targets the machines that have its packages: a scan decides.
    .flatMap(({ patch, index }) => (patch.appliesTo && !patch.appliesTo.roles.some((r) => roles.has(r)) ? [{ patch, index, roles: patch.appliesTo.roles }] : []))
    .map(({ patch, index, roles: wanted }) =>
      problemAt(
        source,
        ["patches", index],
        `patch "${patch.id}" applies to roles [${wanted.join(", ")}] but no machine in lab '${lab.name}' plays any of them`,
        `add a machine with one of those roles to ${displayPath(file)}, or remove the patch from this batch`,
      ),
    );
}

/** Run a nested load; file its ConfigErrors with ours instead of stopping at the first file. */
async function collect<T>(problems: ConfigError[], load: () => Promise<T>): Promise<T | undefined> {
  try {
    return await load();
  } catch (err) {
    if (err instanceof ConfigErrors) {
      problems.push(...err.errors);
      return undefined;
    }
    throw err;
  }
}

function labsRemedy(root: string): string {
  const labsDir = displayPath(path.join(root, "labs"));
  return `${choices(listLabs(root), `no labs exist under ${labsDir}/`)} (a name is looked up as ${labsDir}/<name>.yaml), or give the path of a lab file`;
}

function lineOf(source: YamlSource, at: (string | number)[]): string {
  return String(source.locate(at)?.line ?? "?");
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === "object" && !Array.isArray(v);
}
