// Allure labels and links patchlab puts on every result, in one place so suite results,
// lifecycle steps and gate decisions group the same way in the report:
//   Behaviors: epic = batch > feature = patch > story = "<n> <phase>" (the gate decision first);
//   Suites:    parentSuite = patch > suite = "<n> <phase>" > subSuite = machine;
//   Timeline:  one lane per machine (host).
// The UI sorts tree nodes by name, so the story/suite names carry their order in the
// lifecycle: a reviewer reads decision, baseline, install... top to bottom.
import type { Severity } from "../config/schemas.ts";
import type { SuiteContext } from "../run/suite-context.ts";

export type Labels = Record<string, string>;
export interface AllureLabel {
  name: string;
  value: string;
}
export interface AllureLink {
  url: string;
  name?: string;
  /** Allure link types: "link" (plain), "issue", "tms". */
  type?: string;
}

/**
 * Labels that may repeat (a baseline serves every patch of its machine, so it belongs to each
 * patch's feature) and links (advisory, CVEs), put on every result of a suite run or step.
 * A label name given here replaces every label of that name the result had.
 */
export interface ResultMeta {
  labels: AllureLabel[];
  links: AllureLink[];
}

/** Label carrying the id of one runner invocation, so its results can be told apart. */
export const INVOCATION_LABEL = "invocation";
/** Label telling what patchlab wrote a result for: "check" (suites), "step" (lifecycle), "verdict". */
export const KIND_LABEL = "patchlabKind";

/** Patch severity (Debian's words) onto Allure's severity scale. */
export const ALLURE_SEVERITY: Record<Severity, "blocker" | "critical" | "normal" | "minor"> = {
  critical: "blocker",
  important: "critical",
  moderate: "normal",
  low: "minor",
};
const SEVERITY_RANK: Severity[] = ["critical", "important", "moderate", "low"];

/** The gate decision first, then the lifecycle in the order it happens (at most 10: names sort as text). */
const STAGES = ["gate decision", "baseline", "install", "restart", "post-install", "idempotence", "soak", "uninstall", "post-uninstall", "restore"];
/** After the last stage: the machine's whole pipeline, then anything unforeseen. */
const AFTER = ["pipeline"];

/** "post-install" -> "4 post-install": story and suite names that sort in lifecycle order. */
export function stageTitle(phase: string): string {
  const i = STAGES.indexOf(phase);
  if (i >= 0) return `${i} ${phase}`;
  const j = AFTER.indexOf(phase);
  return `${STAGES.length - 1}.${j >= 0 ? j + 1 : 9} ${phase}`;
}

/** Where Debian tracks a CVE; only ever a link in the report, never fetched. */
export function cveUrl(cve: string): string {
  return `https://security-tracker.debian.org/tracker/${encodeURIComponent(cve)}`;
}

export interface PatchInfo {
  id: string;
  severity?: Severity;
  advisory?: string;
  cves?: string[];
}

/** Links to the advisory and to each CVE of the patches, each once. */
export function patchLinks(patches: PatchInfo[]): AllureLink[] {
  const out = new Map<string, AllureLink>();
  for (const p of patches) {
    if (p.advisory) out.set(p.advisory, { name: `advisory ${p.id}`, url: p.advisory, type: "link" });
    for (const cve of p.cves ?? []) out.set(cveUrl(cve), { name: cve, url: cveUrl(cve), type: "issue" });
  }
  return [...out.values()];
}

/** The most severe of the patches' severities (a baseline serves them all). */
export function topSeverity(patches: PatchInfo[]): Severity | undefined {
  return SEVERITY_RANK.find((s) => patches.some((p) => p.severity === s));
}

export function ownerText(owner: { name: string; contact?: string }): string {
  return owner.contact ? `${owner.name} (${owner.contact})` : owner.name;
}

export interface RunLabelsInput {
  /** Batch name (lab-config/batches/<name>.yaml `name`). */
  batch: string;
  /** The patches the suite run or step is about; a baseline: every patch of its machine. */
  patches: PatchInfo[];
  /** The machine under test, as in the lab file. */
  machine: { name: string; owner?: { name: string; contact?: string } };
  /** baseline, post-install, post-uninstall, or a step: install, restart, uninstall, restore. */
  phase: string;
}

/**
 * Everything the report needs to place one suite run or lifecycle step: pass the result to
 * `runSuite({ ..., ...runLabels(x) })` or `writeLifecycleResult(dir, { ..., ...runLabels(x) })`.
 * `labels` are single-valued (they travel to the suite process as ALLURE_LABEL_* variables);
 * `meta` carries one feature and parentSuite per patch, and the advisory and CVE links.
 */
export function runLabels(i: RunLabelsInput): { labels: Labels; meta: ResultMeta } {
  const ids = i.patches.map((p) => p.id);
  const severity = topSeverity(i.patches);
  const labels: Labels = {
    epic: i.batch,
    batch: i.batch,
    story: stageTitle(i.phase),
    suite: stageTitle(i.phase),
    subSuite: i.machine.name,
    host: i.machine.name,
    machine: i.machine.name,
    phase: i.phase,
    ...(ids.length ? { feature: ids.join(", "), parentSuite: ids.join(", "), patch: ids.join(",") } : {}),
    ...(severity ? { severity: ALLURE_SEVERITY[severity] } : {}),
    ...(i.machine.owner ? { owner: ownerText(i.machine.owner) } : {}),
  };
  const meta: ResultMeta = {
    labels: ids.length ? [...ids.map((value) => ({ name: "feature", value })), ...ids.map((value) => ({ name: "parentSuite", value }))] : [],
    links: patchLinks(i.patches),
  };
  return { labels, meta };
}

/** Default labels of a suite run, from its context alone; the caller's labels override these. */
export function suiteLabels(context: SuiteContext, suite: string): Labels {
  const patches = context.patches.join(", ");
  return {
    ...(patches ? { parentSuite: patches, feature: patches } : {}),
    suite: stageTitle(context.phase),
    subSuite: context.target.name,
    story: stageTitle(context.phase),
    phase: context.phase,
    machine: context.target.name,
    host: context.target.name,
    role: suite,
    patch: context.patches.join(","),
    lab: context.lab.name,
    run: context.runId,
    [KIND_LABEL]: "check",
  };
}

/**
 * Parameters make Allure's historyId differ per phase/machine/patch: without them the same
 * test run in baseline and post-install would be folded into one result as "retries".
 */
export function suiteParameters(context: SuiteContext): Labels {
  return { phase: context.phase, machine: context.target.name, patch: context.patches.join(",") };
}

/** `labels` (single values) with `meta`'s labels replacing those of the same name, as Allure label objects. */
export function mergeLabels(labels: Labels, meta?: ResultMeta): AllureLabel[] {
  const replaced = new Set((meta?.labels ?? []).map((l) => l.name));
  return [
    ...Object.entries(labels)
      .filter(([name]) => !replaced.has(name))
      .map(([name, value]) => ({ name, value })),
    ...(meta?.labels ?? []),
  ];
}

interface ResultFileShape {
  labels?: AllureLabel[];
  links?: AllureLink[];
}

/** Applies `meta` to one parsed result (in place): its labels replace same-name labels, links are added once. */
export function applyMeta(result: ResultFileShape, meta: ResultMeta): void {
  const replaced = new Set(meta.labels.map((l) => l.name));
  result.labels = [...(result.labels ?? []).filter((l) => !replaced.has(l.name)), ...meta.labels];
  const links = result.links ?? [];
  for (const l of meta.links) if (!links.some((x) => x.url === l.url)) links.push(l);
  result.links = links;
}
