// The gate's decision as Allure results: one per patch, at the top of that patch's feature
// (story "0 gate decision"), so a reviewer reads the verdict and its reasons before any check.
// passed = approved, failed = rejected, broken = needs review.
import type { TestStatus } from "./outcome-model.ts";
import { jsonAttachment } from "./attachments.ts";
import { MARK } from "./allure-extras.ts";
import { ruleOf, type DecisionView, type PatchDecisionView, type ReasonView, type WaiverView } from "./decision-view.ts";
import { ALLURE_SEVERITY, KIND_LABEL, patchLinks, stageTitle, type AllureLink, type PatchInfo } from "./labels.ts";
import { writeAllureResult, type AllureStep } from "./lifecycle.ts";
import type { Severity } from "../config/schemas.ts";

export const VERDICT_STAGE = "gate decision";
const STATUS: Record<string, TestStatus> = { approved: "passed", rejected: "failed", "needs-review": "broken", "not-applicable": "skipped" };
const WORDS: Record<string, string> = { approved: "approved", rejected: "rejected", "needs-review": "needs review", "not-applicable": "not applicable", "bad-input": "bad input" };
const EFFECT_STATUS: Record<string, TestStatus> = { rejects: "failed", undecided: "broken", none: "skipped" };
const EFFECT_ORDER = ["rejects", "undecided", "none"];
/** Steps listed per decision; the rest are in gate.json (attached). */
const MAX_STEPS = 60;
const MAX_IN_MESSAGE = 8;

export interface VerdictContext {
  batch: string;
  runId?: string;
  lab?: string;
  /** Epoch ms the decision was taken (default: gate.json's decidedAt, else now). */
  at?: number;
  /** Patch details beyond the decision (title, severity, advisory, CVEs). */
  patches?: (PatchInfo & { title?: string })[];
  /** More links per patch id (e.g. collected from the patch's check results). */
  links?: Record<string, AllureLink[]>;
  /** Owners of the machines that verified each patch (who to ask when it is not approved). */
  owners?: Record<string, string[]>;
}

export function verdictWord(verdict: string): string {
  return WORDS[verdict] ?? verdict;
}

/** Writes one verdict result per patch (and one for a run that decided no patch); returns their uuids. */
export function writeVerdictResults(resultsDir: string, decision: DecisionView, ctx: VerdictContext): string[] {
  const at = ctx.at ?? (decision.run?.decidedAt ? Date.parse(decision.run.decidedAt) : NaN);
  const when = Number.isFinite(at) ? at : Date.now();
  const known = new Map<string, PatchInfo & { title?: string }>();
  const fromPatches = decision.patches.map((p) => ({ id: p.patch, ...(p.title ? { title: p.title } : {}), ...(p.severity ? { severity: p.severity } : {}) }));
  for (const p of [...fromPatches, ...(decision.run?.patches ?? []), ...(ctx.patches ?? [])]) known.set(p.id, { ...known.get(p.id), ...(p as PatchInfo & { title?: string }) });
  if (decision.patches.length === 0) return [writeNoDecision(resultsDir, decision, ctx, when)];
  return decision.patches.map((p) => writeOne(resultsDir, p, known.get(p.patch), ctx, when));
}

function writeOne(dir: string, p: PatchDecisionView, info: (PatchInfo & { title?: string }) | undefined, ctx: VerdictContext, at: number): string {
  const severity = info?.severity as Severity | undefined;
  const title = info?.title ? ` ${info.title}` : "";
  return writeAllureResult(dir, {
    name: `${verdictWord(p.verdict).toUpperCase()}: ${p.patch}${title}`,
    // Stable per batch and patch: the verdict's own history shows across patch cycles.
    fullName: `patchlab:gate: ${ctx.batch} > ${p.patch}`,
    status: STATUS[p.verdict] ?? "broken",
    message: verdictMessage(p),
    start: at,
    stop: at,
    labels: {
      epic: ctx.batch,
      feature: p.patch,
      story: stageTitle(VERDICT_STAGE),
      parentSuite: p.patch,
      suite: stageTitle(VERDICT_STAGE),
      host: "gate",
      tag: `verdict: ${verdictWord(p.verdict)}`,
      patch: p.patch,
      batch: ctx.batch,
      verdict: p.verdict,
      [KIND_LABEL]: "verdict",
      ...(severity && ALLURE_SEVERITY[severity] ? { severity: ALLURE_SEVERITY[severity] } : {}),
      ...(ctx.runId ? { run: ctx.runId } : {}),
      ...(ctx.lab ? { lab: ctx.lab } : {}),
      ...(ctx.owners?.[p.patch]?.length ? { owner: ctx.owners[p.patch]!.join(", ") } : {}),
    },
    links: [...(info ? patchLinks([info]) : []), ...(ctx.links?.[p.patch] ?? [])],
    parameters: {},
    description: verdictDescription(p, info?.title),
    steps: verdictSteps(p),
    attachments: [jsonAttachment("gate decision (gate.json)", p)],
  });
}

function writeNoDecision(dir: string, d: DecisionView, ctx: VerdictContext, at: number): string {
  return writeAllureResult(dir, {
    name: `${verdictWord(d.verdict ?? "needs-review").toUpperCase()}: no patch was decided`,
    fullName: `patchlab:gate: ${ctx.batch} > (run)`,
    status: STATUS[d.verdict ?? "needs-review"] ?? "broken",
    message: `${MARK.verdict}${verdictWord(d.verdict ?? "needs-review")}: no patch was decided\n${d.summary}`,
    start: at,
    stop: at,
    labels: { epic: ctx.batch, feature: "(run)", story: stageTitle(VERDICT_STAGE), parentSuite: "(run)", suite: stageTitle(VERDICT_STAGE), host: "gate", batch: ctx.batch, [KIND_LABEL]: "verdict", ...(ctx.runId ? { run: ctx.runId } : {}) },
    parameters: {},
    description: d.summary,
  });
}

const where = (r: ReasonView) => [r.machine, r.phase].filter(Boolean).join("/");

/** One line a person reads for a reason: "regression: web role > home page [web/post-install]: status 500". */
export function reasonLine(r: ReasonView): string {
  const w = where(r);
  const msg = (r.message ?? "").split("\n")[0]!.slice(0, 200);
  return `${ruleOf(r)}: ${r.check ?? "(whole step)"}${w ? ` [${w}]` : ""}${msg ? `: ${msg}` : ""}`;
}

const blocking = (p: PatchDecisionView) => p.reasons.filter((r) => r.effect !== "none");

function tally(p: PatchDecisionView): string {
  const byKind = new Map<string, number>();
  for (const r of p.reasons) byKind.set(ruleOf(r), (byKind.get(ruleOf(r)) ?? 0) + 1);
  const c = p.counts;
  const checks = c.checks !== undefined ? `${c.passed ?? 0}/${c.checks} checks passed` : "";
  const kinds = [...byKind.entries()].map(([k, n]) => `${n} ${k}`).join(", ");
  return [checks, kinds].filter(Boolean).join("; ");
}

/** "Gate: rejected (5/21 required checks passed; 14 regression)" and the blocking reasons, one a line. */
export function verdictMessage(p: PatchDecisionView): string {
  const lines = blocking(p).sort(byEffect).map(reasonLine);
  const shown = lines.slice(0, MAX_IN_MESSAGE).map((l) => `- ${l}`);
  if (lines.length > MAX_IN_MESSAGE) shown.push(`- ... and ${lines.length - MAX_IN_MESSAGE} more (see the steps below)`);
  const t = tally(p);
  return [`${MARK.verdict}${verdictWord(p.verdict)}${t ? ` (${t})` : ""}`, ...shown].join("\n");
}

const byEffect = (a: ReasonView, b: ReasonView) => EFFECT_ORDER.indexOf(a.effect ?? "none") - EFFECT_ORDER.indexOf(b.effect ?? "none");

function verdictSteps(p: PatchDecisionView): AllureStep[] {
  const rs = [...p.reasons].sort(byEffect);
  const steps: AllureStep[] = rs.slice(0, MAX_STEPS).map((r) => ({
    name: `${r.effect === "rejects" ? "rejects" : r.effect === "undecided" ? "undecided" : "not blocking"} · ${ruleOf(r)}: ${r.check ?? "(whole step)"}${where(r) ? ` [${where(r)}]` : ""}`,
    status: EFFECT_STATUS[r.effect ?? "none"] ?? "skipped",
    ...(r.message || r.waiver || r.expiredWaivers?.length ? { message: [waiverText(r), r.message].filter(Boolean).join("\n") } : {}),
  }));
  if (rs.length > MAX_STEPS) steps.push({ name: `... and ${rs.length - MAX_STEPS} more reasons (attached gate.json)`, status: "skipped" });
  if (steps.length === 0) steps.push({ name: `every required check passed (${tally(p)})`, status: "passed" });
  return steps;
}

/** "reason; approved by X; until 2026-12-31" (or "expired 2026-01-31"). */
export function waiverDetails(w: WaiverView, expired = !!w.expired): string {
  return [w.reason, w.approver ? `approved by ${w.approver}` : "", w.expires ? `${expired ? "expired" : "until"} ${w.expires}` : ""].filter(Boolean).join("; ");
}

/** What the waivers did to a reason: applied, or matched but expired (and so not applied). */
export function waiverText(r: ReasonView): string {
  const lines: string[] = [];
  if (r.waiver && !r.waiver.expired) lines.push(`waived (${waiverDetails(r.waiver)})`);
  const expired = [...(r.expiredWaivers ?? []), ...(r.waiver?.expired ? [r.waiver] : [])];
  for (const w of expired) lines.push(`waiver${w.id ? ` ${w.id}` : ""} expired, not applied (${waiverDetails(w, true)})`);
  return lines.join("\n");
}

function verdictDescription(p: PatchDecisionView, title: string | undefined): string {
  const c = p.counts;
  const words: Record<string, string> = { passed: "passed", failed: "failed", preExisting: "pre-existing", flaky: "flaky", waived: "waived", broken: "broken", missing: "missing", skipped: "skipped" };
  const parts = Object.entries(words).filter(([k]) => k in c).map(([k, w]) => `${c[k]} ${w}`);
  return [
    `**${p.patch}**${title ? ` — ${escapeMd(title)}` : ""}: **${verdictWord(p.verdict)}**.`,
    "",
    c.checks !== undefined ? `${c.checks} checks judged${c.required !== undefined ? ` (${c.required} required results)` : ""}: ${parts.join(", ")}.` : "",
    "",
    ...p.notes.map((n) => `- ${escapeMd(n)}`),
    "",
    "Each step under *Test body* is one reason: red rejects the patch, yellow leaves it undecided (needs review), grey is shown but does not block. The full decision is attached as JSON.",
  ].join("\n");
}

/** Markdown is rendered by the report: keep a title's characters literal. */
function escapeMd(s: string): string {
  return s.replace(/[\\`*_{}[\]#|<>]/g, "\\$&");
}
