// What the report is generated from: a copy of the run's Allure results (the run's own stay as
// the suites wrote them) plus what only the gate knows: a verdict result per patch, checks
// marked pre-existing / waived / flaky so the categories can split them, fresh categories, and
// the executor's place in the batch's history. Re-gating a run and reporting again therefore
// shows the new decision, never a stale one.
import fs from "node:fs";
import path from "node:path";
import { CATEGORIES, MARK, writeCategories } from "./allure-extras.ts";
import { outcomeOf, type DecisionView, type ReasonView } from "./decision-view.ts";
import { ALLURE_SEVERITY, KIND_LABEL, stageTitle, topSeverity, type AllureLabel, type AllureLink, type PatchInfo } from "./labels.ts";
import { labelValue, labelValues, loadResults, saveResult, type LoadedResult, type ResultFile } from "./result-files.ts";
import { verdictWord, waiverDetails, waiverText, writeVerdictResults } from "./verdicts.ts";

export interface StageInput {
  resultsDir: string;
  stageDir: string;
  batch: string;
  decision?: DecisionView;
  runId?: string;
  /** Build order for the history trend when executor.json has none. */
  buildOrder?: number;
}

export interface StageOutput {
  /** Title of the report: the batch and its verdicts. */
  reportName: string;
  results: number;
}

export function stageResults(s: StageInput): StageOutput {
  fs.rmSync(s.stageDir, { recursive: true, force: true });
  fs.mkdirSync(s.stageDir, { recursive: true });
  for (const f of fs.readdirSync(s.resultsDir, { withFileTypes: true })) {
    if (f.isFile()) fs.copyFileSync(path.join(s.resultsDir, f.name), path.join(s.stageDir, f.name));
  }
  const all = loadResults(s.stageDir);
  // Verdicts are written below from the current gate.json; any older ones would contradict it.
  const results = all.filter((r) => {
    if (labelValue(r.result, KIND_LABEL) !== "verdict") return true;
    fs.rmSync(r.file);
    return false;
  });
  markFlakyRetries(results);
  if (s.decision) {
    normalizeLabels(results, s.batch, patchInfos(s.decision));
    markFromDecision(results, s.decision);
  }
  for (const r of results) {
    ensureMessage(r.result);
    markBaselineFailure(r.result);
    saveResult(r);
  }
  if (s.decision) {
    writeVerdictResults(s.stageDir, s.decision, {
      batch: s.batch,
      ...(s.runId ? { runId: s.runId } : {}),
      ...(s.decision.run?.lab ? { lab: s.decision.run.lab } : {}),
      links: linksByPatch(results),
      owners: ownersByPatch(results),
    });
  }
  writeCategories(s.stageDir);
  const reportName = reportTitle(s.batch, s.decision);
  fixExecutor(s.stageDir, reportName, s.buildOrder);
  return { reportName, results: results.length };
}

/** "demo: 1 rejected, 1 approved" — what the overview shows first. */
export function reportTitle(batch: string, d: DecisionView | undefined): string {
  if (!d) return `patchlab: ${batch} (no gate decision)`;
  if (d.patches.length === 0) return `patchlab: ${batch}: ${verdictWord(d.verdict ?? "needs-review")}, no patch decided`;
  const counts = (["rejected", "needs-review", "approved"] as const)
    .map((v) => [v, d.patches.filter((p) => p.verdict === v).length] as const)
    .filter(([, n]) => n > 0)
    .map(([v, n]) => `${n} ${verdictWord(v)}`);
  return `patchlab: ${batch}: ${counts.join(", ")}`;
}

/**
 * A check retried after a failure leaves one result per attempt under one historyId (Allure
 * shows the last and lists the others as retries). A last attempt that passed after a failed
 * or broken one is flaky: marked so, it lands in the Flaky category, not among regressions.
 */
export function markFlakyRetries(results: LoadedResult[]): void {
  const byHistory = new Map<string, ResultFile[]>();
  for (const { result } of results) {
    if (!result.historyId) continue;
    (byHistory.get(result.historyId) ?? byHistory.set(result.historyId, []).get(result.historyId)!).push(result);
  }
  for (const attempts of byHistory.values()) {
    if (attempts.length < 2) continue;
    attempts.sort((a, b) => (a.stop ?? a.start ?? 0) - (b.stop ?? b.start ?? 0));
    const last = attempts[attempts.length - 1]!;
    if (last.status === "passed" && attempts.slice(0, -1).some((a) => a.status === "failed" || a.status === "broken")) {
      last.statusDetails = { ...last.statusDetails, flaky: true };
    }
  }
}

/** The decided patches with their severity (on the decision, or on its run). */
function patchInfos(d: DecisionView): PatchInfo[] {
  return d.patches.map((p) => {
    const severity = p.severity ?? d.run?.patches?.find((x) => x.id === p.patch)?.severity;
    return { id: p.patch, ...(severity ? { severity: severity as NonNullable<PatchInfo["severity"]> } : {}) };
  });
}

/**
 * Results written without runLabels() (an orchestrator that does not pass them, or a run from
 * before they existed) still group by batch > patch > phase: the epic, one feature and suite per
 * patch (from the `patch` label; machine-wide steps go to every patch seen on that machine), the
 * story, and the severity. Labels that are already right are left alone.
 */
export function normalizeLabels(results: LoadedResult[], batch: string, patches: PatchInfo[]): void {
  const known = new Map(patches.map((p) => [p.id, p]));
  const patchesOf = (r: ResultFile) => labelValues(r, "patch").flatMap((v) => v.split(",")).map((v) => v.trim()).filter((v) => known.has(v));
  const byHost = new Map<string, Set<string>>();
  for (const { result } of results) {
    const host = labelValue(result, "host");
    if (host) for (const id of patchesOf(result)) (byHost.get(host) ?? byHost.set(host, new Set()).get(host)!).add(id);
  }
  for (const { result } of results) {
    if (labelValue(result, KIND_LABEL) === "verdict") continue;
    const set = (name: string, values: string[]) => {
      result.labels = [...(result.labels ?? []).filter((l) => l.name !== name), ...values.map((value): AllureLabel => ({ name, value }))];
    };
    if (!labelValue(result, "epic")) set("epic", [batch]);
    const phase = labelValue(result, "phase");
    if (phase && !/^\d+ /.test(labelValue(result, "story") ?? "")) set("story", [stageTitle(phase)]);
    let ids = patchesOf(result);
    if (ids.length === 0) ids = patches.map((p) => p.id).filter((id) => byHost.get(labelValue(result, "host") ?? "")?.has(id));
    if (ids.length === 0) continue;
    if (!labelValues(result, "feature").every((f) => known.has(f)) || labelValues(result, "feature").length === 0) set("feature", ids);
    if (!labelValues(result, "parentSuite").every((f) => known.has(f)) || labelValues(result, "parentSuite").length === 0) {
      set("parentSuite", ids);
      if (phase) set("suite", [stageTitle(phase)]);
      const host = labelValue(result, "host");
      if (host) set("subSuite", [host]);
    }
    const severity = topSeverity(ids.map((id) => known.get(id)!));
    if (!labelValue(result, "severity") && severity) set("severity", [ALLURE_SEVERITY[severity]]);
  }
}

/** "describe > test", as the gate names checks (the same rule as allure-read.ts). */
export function checkTitle(r: ResultFile): string {
  const tp = r.titlePath ?? [];
  let fileIdx = -1;
  tp.forEach((seg, i) => {
    if (/\.[cm]?[jt]sx?$/.test(seg)) fileIdx = i;
  });
  return [...(fileIdx >= 0 ? tp.slice(fileIdx + 1) : []), r.name ?? "(unnamed)"].join(" > ");
}

function matches(r: ResultFile, patch: string, reason: ReasonView): boolean {
  if (!reason.check || labelValue(r, KIND_LABEL) === "verdict") return false;
  if (reason.phase && labelValue(r, "phase") !== reason.phase) return false;
  if (reason.machine && labelValue(r, "machine") !== reason.machine) return false;
  const patches = labelValues(r, "patch").flatMap((v) => v.split(","));
  if (patches.length && !patches.includes(patch)) return false;
  // allure-mocha's fullName is "<project>:<spec file>: <describe> > <test>".
  return checkTitle(r) === reason.check || (r.fullName ?? "").endsWith(`: ${reason.check}`);
}

/**
 * Marks the checks the gate judged not blocking (pre-existing, waived) or flaky, by their
 * message; a failure whose waiver expired keeps counting as a regression, and says why.
 */
export function markFromDecision(results: LoadedResult[], d: DecisionView): void {
  for (const p of d.patches) {
    for (const reason of p.reasons) {
      const outcome = outcomeOf(reason);
      const mark = markFor(reason, outcome);
      if (!mark && outcome !== "flaky") continue;
      for (const { result } of results.filter((x) => matches(x.result, p.patch, reason))) {
        if (outcome === "flaky") {
          if (result.status === "passed") result.statusDetails = { ...result.statusDetails, flaky: true };
          continue;
        }
        if (result.status !== "failed" && result.status !== "broken") continue;
        const message = result.statusDetails?.message ?? "";
        if (!message.startsWith(mark!)) result.statusDetails = { ...result.statusDetails, message: `${mark}${message}` };
      }
    }
  }
}

function markFor(r: ReasonView, outcome: string): string | undefined {
  if (outcome === "waived") return `${MARK.waived}(${(r.waiver && waiverDetails(r.waiver)) || "see gate.json"}): `;
  if (outcome === "pre-existing") return `${MARK.preExisting}(failed in baseline too, not blocking): `;
  if (r.expiredWaivers?.length || r.waiver?.expired) return `(${waiverText(r).replace(/\n/g, "; ")}) `;
  return undefined;
}

/** A failure in baseline happened before any patch: by definition not the patch's regression. */
function markBaselineFailure(r: ResultFile): void {
  if (labelValue(r, "phase") !== "baseline" || r.status !== "failed") return;
  const message = r.statusDetails?.message ?? "";
  if (message.startsWith(MARK.preExisting) || message.startsWith(MARK.waived)) return;
  r.statusDetails = { ...r.statusDetails, message: `${MARK.preExisting}(failed in baseline, before any patch): ${message}` };
}

/** Allure matches a category's message pattern only when there is a message. */
function ensureMessage(r: ResultFile): void {
  if ((r.status === "failed" || r.status === "broken") && !r.statusDetails?.message) {
    r.statusDetails = { ...r.statusDetails, message: "(no message)" };
  }
}

/** The advisory and CVE links the patch's results carry, so its verdict links to them too. */
function linksByPatch(results: LoadedResult[]): Record<string, AllureLink[]> {
  const out: Record<string, AllureLink[]> = {};
  for (const { result } of results) {
    // Only results of one patch: a baseline carries the links of every patch it serves.
    const features = labelValues(result, "feature");
    if (features.length !== 1) continue;
    for (const patch of features) {
      const links = (out[patch] ??= []);
      for (const l of result.links ?? []) if (!links.some((x) => x.url === l.url)) links.push(l);
    }
  }
  return out;
}

/** The owners named on each patch's results (from runLabels: the lab file's machine owners). */
function ownersByPatch(results: LoadedResult[]): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const { result } of results) {
    for (const owner of labelValues(result, "owner")) {
      for (const patch of labelValues(result, "feature")) {
        const list = (out[patch] ??= []);
        if (!list.includes(owner)) list.push(owner);
      }
    }
  }
  return out;
}

function fixExecutor(dir: string, reportName: string, buildOrder: number | undefined): void {
  const file = path.join(dir, "executor.json");
  let executor: Record<string, unknown> = { name: "patchlab", type: "patchlab" };
  try {
    executor = JSON.parse(fs.readFileSync(file, "utf8")) as Record<string, unknown>;
  } catch {
    /* a run that died early wrote none */
  }
  executor.reportName = reportName;
  if (typeof executor.buildOrder !== "number" && buildOrder !== undefined) executor.buildOrder = buildOrder;
  fs.writeFileSync(file, JSON.stringify(executor, null, 2) + "\n");
}

export { CATEGORIES };
