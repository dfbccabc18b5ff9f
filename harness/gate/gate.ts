// The deployment gate: a pure function from what was required and what was recorded to a
// verdict per patch (no I/O, no clock: "today" is input), so a saved run can be re-gated
// with today's waivers and the decision re-derived by anyone.
//   - every required result (plan: machine x phase x step/suite/watcher) needs evidence; what
//     has none is missing, and missing never approves;
//   - each result is judged by the ordered rules in rules.ts; its outcome's effect comes from
//     the vocabulary (vocabulary.ts): any `rejects` rejects the patch, else any `undecided`
//     leaves it needing review, else it is approved.
import { ExitCode } from "../core/errors.ts";
import type { TestOutcome, TestStatus } from "../report/outcome-model.ts";
import { judge, type Facts } from "./rules.ts";
import {
  CHECK_PHASES,
  GateInput,
  PatchInput,
  type Counts,
  type Decision,
  type Evidence,
  type GatePhase,
  type PatchDecision,
  type PayloadItem,
  type Reason,
  type Required,
} from "./schema.ts";
import { summarize } from "./summary.ts";
import { effectOf, type Outcome, type RunVerdict, type Verdict } from "./vocabulary.ts";
import { findWaiver, type Waiver } from "./waivers.ts";

export * from "./schema.ts";

type ParsedPatch = ReturnType<typeof PatchInput.parse>;

/** When one check reports several times in a phase (e.g. two runs), the more decisive outcome stands. */
const PRIORITY: Record<TestStatus, number> = { failed: 3, broken: 2, skipped: 1, passed: 0 };

export function decide(input: GateInput): Decision {
  const parsed = GateInput.parse(input);
  const patches = parsed.patches.map((p) => decidePatch(p, parsed.waivers, parsed.today));
  const applicable = patches.filter((p) => p.verdict !== "not-applicable");
  const verdict: RunVerdict =
    applicable.length === 0
      ? "needs-review" // nothing was verified: never approve nothing
      : applicable.some((p) => p.verdict === "rejected")
        ? "rejected"
        : applicable.every((p) => p.verdict === "approved")
          ? "approved"
          : "needs-review";
  const exitCode = verdict === "approved" ? ExitCode.approved : verdict === "rejected" ? ExitCode.rejected : ExitCode.undecided;
  return {
    schemaVersion: 2,
    verdict,
    exitCode,
    summary: summarize(verdict, exitCode, patches),
    patches,
    approvedSet: approvedSet(patches),
  };
}

/** The exact packages of the approved patches, deduplicated: what CI may promote. */
function approvedSet(patches: PatchDecision[]): PayloadItem[] {
  const seen = new Map<string, PayloadItem>();
  for (const p of patches) if (p.verdict === "approved") for (const i of p.payload) seen.set(`${i.package}\u0000${i.version}\u0000${i.sha256 ?? ""}`, i);
  return [...seen.values()].sort((a, b) => a.package.localeCompare(b.package) || a.version.localeCompare(b.version));
}

const emptyCounts = (): Counts => ({ required: 0, checks: 0, passed: 0, failed: 0, broken: 0, missing: 0, preExisting: 0, flaky: 0, waived: 0, skipped: 0 });

const COUNT_OF: Record<Outcome, keyof Counts> = {
  passed: "passed",
  failed: "failed",
  broken: "broken",
  missing: "missing",
  "pre-existing": "preExisting",
  flaky: "flaky",
  waived: "waived",
};

class PatchJudge {
  readonly reasons: Reason[] = [];
  readonly notes: string[] = [];
  readonly counts = emptyCounts();

  constructor(private readonly p: ParsedPatch, private readonly waivers: Waiver[], private readonly today: string) {}

  /** Judge one result; record it unless it is a plain pass. */
  record(where: Omit<Reason, "outcome" | "effect" | "rule">, facts: Omit<Facts, "waived">): Outcome | "ignored" {
    const names = [where.check, ...(where.suite ? [where.suite] : [])];
    const w = findWaiver(this.waivers, { patch: this.p.patch, machine: where.machine, phase: where.phase, names }, this.today);
    const j = judge({ ...facts, waived: w.active !== undefined });
    if (j.outcome === "ignored") {
      this.counts.skipped++;
      return j.outcome;
    }
    this.counts.checks++;
    this.counts[COUNT_OF[j.outcome]]++;
    if (j.outcome === "passed") return j.outcome;
    const message = [where.message, j.why].filter(Boolean).join(" — ") || undefined;
    const ref = (x: Waiver) => ({ ...(x.id ? { id: x.id } : {}), reason: x.reason, approver: x.approver, expires: x.expires });
    this.reasons.push({
      ...where,
      outcome: j.outcome,
      effect: effectOf(j.outcome),
      rule: j.rule,
      ...(message ? { message } : {}),
      ...(j.outcome === "waived" && w.active ? { waiver: ref(w.active) } : {}),
      ...(w.expired.length && j.outcome === "failed" ? { expiredWaivers: w.expired.map(ref) } : {}),
    });
    return j.outcome;
  }
}

function decidePatch(p: ParsedPatch, waivers: Waiver[], today: string): PatchDecision {
  const base = { patch: p.patch, ...(p.title ? { title: p.title } : {}), ...(p.severity ? { severity: p.severity } : {}), payload: p.payload, testedWith: p.testedWith };
  const J = new PatchJudge(p, waivers, today);
  J.notes.push(...p.notes);
  if (!p.applicable) {
    J.notes.push(p.notApplicableReason ?? "no lab machine has what this patch updates");
    return { ...base, verdict: "not-applicable", reasons: [], notes: J.notes, counts: J.counts };
  }
  const required = dedupe(p.required);
  J.counts.required = required.length;
  if (required.length === 0) {
    J.record({ phase: "pipeline", machine: "-", kind: "step", check: "required results", message: "the plan required nothing for this patch: nothing was verified" }, { status: "absent", attempts: [], phase: "pipeline", compared: false });
  }
  const notEvidence = invalidated(p.evidence);
  for (const r of required) {
    const found = p.evidence.filter((e) => e.machine === r.machine && e.phase === r.phase && e.kind === r.kind && e.name === r.name);
    const why = notEvidence.get(`${r.machine}\u0000${r.phase}`);
    if (r.kind === "suite") judgeSuite(J, r, found as SuiteEv[], baselineOf(p.evidence, r), why);
    else if (r.kind === "watch") judgeWatch(J, r, found as WatchEv[], why);
    else judgeStep(J, r, found as StepEv[], why);
  }
  const verdict: Verdict = J.reasons.some((r) => r.effect === "rejects")
    ? "rejected"
    : J.reasons.some((r) => r.effect === "undecided")
      ? "needs-review"
      : "approved";
  return { ...base, verdict, reasons: J.reasons, notes: J.notes, counts: J.counts };
}

type StepEv = Extract<Evidence, { kind: "step" }>;
type SuiteEv = Extract<Evidence, { kind: "suite" }>;
type WatchEv = Extract<Evidence, { kind: "watch" }>;

function dedupe(rs: Required[]): Required[] {
  const seen = new Set<string>();
  return rs.filter((r) => {
    const k = `${r.machine}\u0000${r.phase}\u0000${r.kind}\u0000${r.name}`;
    return seen.has(k) ? false : (seen.add(k), true);
  });
}

/**
 * Results that exist but prove nothing: what ran on a machine after its restart broke (or
 * the machine never came back) says nothing about the patch on a healthy machine.
 */
function invalidated(evidence: Evidence[]): Map<string, string> {
  const out = new Map<string, string>();
  for (const e of evidence) {
    if (e.kind !== "step" || e.phase !== "restart" || e.status === "passed" || e.status === "skipped") continue;
    for (const ph of ["post-install", "idempotence", "soak"] as GatePhase[]) {
      out.set(`${e.machine}\u0000${ph}`, `not evidence: the restart before it was ${e.status}${e.message ? ` (${e.message})` : ""}`);
    }
  }
  return out;
}

function judgeStep(J: PatchJudge, r: Required, found: StepEv[], notEvidence?: string): void {
  // Several records of one step (e.g. one per attempt): the most decisive stands.
  const e = found.sort((a, b) => PRIORITY[b.status] - PRIORITY[a.status])[0];
  J.record(
    { phase: r.phase, machine: r.machine, kind: "step", check: r.name, ...(e?.message ? { message: e.message } : !e ? { message: `required ${r.name} step has no result` } : {}), ...(e?.attempts ? { attempts: e.attempts } : {}) },
    { status: e?.status ?? "absent", attempts: (e?.attempts ?? []).map((a) => a.status), phase: r.phase, compared: false, ...(notEvidence ? { notEvidence } : {}) },
  );
}

function judgeWatch(J: PatchJudge, r: Required, found: WatchEv[], notEvidence?: string): void {
  const where = { phase: r.phase, machine: r.machine, kind: "watch" as const, check: r.name };
  if (found.length === 0 || notEvidence || found.some((e) => e.status === "broken")) {
    const broken = found.find((e) => e.status === "broken");
    J.record({ ...where, message: broken?.message ?? (found.length ? undefined : `required ${r.name} watcher has no result`) }, { status: broken ? "broken" : found.length ? "passed" : "absent", attempts: [], phase: r.phase, compared: false, ...(notEvidence ? { notEvidence } : {}) });
    return;
  }
  const findings = found.flatMap((e) => e.findings);
  const rejecting = findings.filter((f) => f.rejects);
  for (const f of findings.filter((x) => !x.rejects)) J.notes.push(`${r.machine}/${r.phase} ${r.name}: ${f.severity}: ${f.title}${f.message ? ` (${f.message})` : ""}`);
  if (rejecting.length === 0) {
    J.record(where, { status: "passed", attempts: [], phase: r.phase, compared: false });
    return;
  }
  for (const f of rejecting) {
    J.record({ ...where, check: `${r.name}: ${f.title}`, suite: r.name, ...(f.message ? { message: f.message } : {}) }, { status: "failed", attempts: [], phase: r.phase, compared: false });
  }
}

/** The baseline run of the same suite on the same machine, for the ratchet. */
function baselineOf(evidence: Evidence[], r: Required): Map<string, TestStatus> | undefined {
  if (r.phase === "baseline") return undefined;
  const runs = evidence.filter((e): e is SuiteEv => e.kind === "suite" && e.phase === "baseline" && e.machine === r.machine && e.name === r.name);
  if (runs.length === 0) return undefined;
  return merge(runs.flatMap((e) => e.result.tests));
}

function merge(tests: TestOutcome[]): Map<string, TestStatus> {
  const m = new Map<string, TestStatus>();
  for (const t of tests) {
    const prev = m.get(t.name);
    if (!prev || PRIORITY[t.status] > PRIORITY[prev]) m.set(t.name, t.status);
  }
  return m;
}

function judgeSuite(J: PatchJudge, r: Required, found: SuiteEv[], baseline: Map<string, TestStatus> | undefined, notEvidence?: string): void {
  const where = { phase: r.phase, machine: r.machine, kind: "suite" as const, suite: r.name, check: `${r.name} suite` };
  const facts = (status: Facts["status"]): Omit<Facts, "waived"> => ({ status, attempts: [], phase: r.phase, compared: false, ...(notEvidence ? { notEvidence } : {}) });
  if (found.length === 0) {
    J.record({ ...where, message: "the required suite produced no result" }, facts("absent"));
    return;
  }
  if (notEvidence) {
    J.record(where, facts("passed"));
    return;
  }
  for (const e of found.filter((x) => x.result.crashed)) J.record({ ...where, message: e.result.detail }, facts("broken"));
  // Each check once per phase: the most decisive report of it stands, with its attempts.
  const byName = new Map<string, TestOutcome>();
  for (const t of found.flatMap((e) => e.result.tests)) {
    const prev = byName.get(t.name);
    if (!prev || PRIORITY[t.status] > PRIORITY[prev.status]) byName.set(t.name, t);
  }
  const compared = (CHECK_PHASES as readonly string[]).includes(r.phase);
  let passed = 0, judged = 0, failed = 0;
  for (const t of byName.values()) {
    const b = compared ? (baseline?.get(t.name) ?? "missing") : undefined;
    const o = J.record(
      { phase: r.phase, machine: r.machine, kind: "suite", suite: r.name, check: t.name, ...(t.message ? { message: t.message } : {}), ...(b ? { baseline: b } : {}), ...(t.attempts?.length ? { attempts: t.attempts.map((a) => ({ status: a.status, ...(a.message ? { message: a.message } : {}) })) } : {}) },
      { status: t.status, attempts: (t.attempts ?? []).map((a) => a.status), phase: r.phase, compared, ...(b ? { baseline: b } : {}) },
    );
    if (o !== "ignored") judged++;
    if (o === "passed" || o === "flaky") passed++;
    if (o === "failed") failed++;
  }
  // A check that passed in the baseline and produced nothing now is missing, not harmless.
  if (compared && baseline) {
    for (const [name, status] of baseline) {
      if (status === "passed" && !byName.has(name)) {
        J.record({ phase: r.phase, machine: r.machine, kind: "suite", suite: r.name, check: name, baseline: "passed", message: "passed in the baseline but reported nothing after the patch" }, { status: "absent", attempts: [], phase: r.phase, compared });
      }
    }
  }
  // A suite that reported nothing usable verified nothing; after the patch, one that passed
  // nothing approves nothing (unless it already rejects).
  if (found.some((x) => x.result.crashed)) return;
  const why =
    judged === 0
      ? byName.size === 0 ? "the suite reported no checks" : "every check of the suite was skipped"
      : compared && passed === 0 && failed === 0 ? "no check of the suite passed after the patch: it verified nothing" : undefined;
  if (why) J.record({ ...where, message: why }, { status: "absent", attempts: [], phase: r.phase, compared: false });
}
