// What the gate decides on and what it decides: gate-input.json and gate.json are file
// formats, so these zod schemas are their single source of truth (JSON Schema comes from them).
import { z } from "zod";
import { SuiteRunResult, TestStatus } from "../report/outcome-model.ts";
import { Effect, Outcome, RunVerdict, Verdict } from "./vocabulary.ts";
import { Waiver } from "./waivers.ts";

export { Effect, Outcome, RunVerdict, Verdict } from "./vocabulary.ts";

/** Where in a machine's lifecycle a result was produced. */
export const GatePhase = z.enum([
  "baseline",
  "install",
  "restart",
  "post-install",
  "idempotence",
  "soak",
  "uninstall",
  "post-uninstall",
  "restore",
  "pipeline",
]);
export type GatePhase = z.infer<typeof GatePhase>;

/** Phases whose suites are compared with the baseline (the ratchet). */
export const CHECK_PHASES = ["post-install", "soak", "post-uninstall"] as const satisfies readonly GatePhase[];

export const EvidenceKind = z.enum(["step", "suite", "watch"]);
export type EvidenceKind = z.infer<typeof EvidenceKind>;

export const PayloadItem = z
  .object({ package: z.string().min(1), version: z.string().min(1), sha256: z.string().regex(/^[0-9a-f]{64}$/).optional() })
  .strict();
export type PayloadItem = z.infer<typeof PayloadItem>;

/** One result the plan requires: the gate looks for evidence of exactly this. */
export const Required = z
  .object({
    machine: z.string().min(1),
    phase: GatePhase,
    kind: EvidenceKind,
    name: z.string().min(1).describe("step (install, restart, uninstall, restore, pipeline...), suite or watcher name"),
  })
  .strict();
export type Required = z.infer<typeof Required>;

const Attempt = z.object({ status: TestStatus, message: z.string().optional() }).strict();

export const StepEvidence = z
  .object({
    kind: z.literal("step"),
    machine: z.string().min(1),
    phase: GatePhase,
    name: z.string().min(1),
    status: TestStatus.describe("failed = the patch's fault; broken = the lab's or harness's; skipped = did not run"),
    message: z.string().optional(),
    attempts: z.array(Attempt).optional(),
  })
  .strict();

export const SuiteEvidence = z
  .object({
    kind: z.literal("suite"),
    machine: z.string().min(1),
    phase: GatePhase,
    name: z.string().min(1),
    result: SuiteRunResult,
  })
  .strict();

export const WatchFinding = z
  .object({
    title: z.string().min(1),
    severity: z.enum(["info", "warning", "error"]),
    rejects: z.boolean().describe("the policy says this finding rejects the patch"),
    message: z.string().optional(),
  })
  .strict();
export type WatchFinding = z.infer<typeof WatchFinding>;

export const WatchEvidence = z
  .object({
    kind: z.literal("watch"),
    machine: z.string().min(1),
    phase: GatePhase,
    name: z.string().min(1),
    status: z.enum(["passed", "broken"]).describe("broken: the watcher could not observe"),
    message: z.string().optional(),
    findings: z.array(WatchFinding),
  })
  .strict();

export const Evidence = z.discriminatedUnion("kind", [StepEvidence, SuiteEvidence, WatchEvidence]);
export type Evidence = z.infer<typeof Evidence>;

export const PatchInput = z
  .object({
    patch: z.string().min(1),
    title: z.string().optional(),
    severity: z.string().optional(),
    applicable: z.boolean().default(true),
    notApplicableReason: z.string().optional(),
    payload: z.array(PayloadItem).default([]).describe("exactly what was installed: only this may be promoted"),
    testedWith: z.array(z.string()).default([]).describe("other patches installed together with this one"),
    notes: z.array(z.string()).default([]).describe("for people: e.g. which patch blame put an aggregate's failure on"),
    required: z.array(Required).describe("what the plan requires; each without evidence is missing"),
    evidence: z.array(Evidence),
  })
  .strict();
export type PatchInput = z.input<typeof PatchInput>;

export const GateInput = z
  .object({
    schemaVersion: z.literal(2).default(2),
    today: z.string().regex(/^\d{4}-\d{2}-\d{2}$/).describe("the day waivers are judged against (the gate never reads a clock)"),
    waivers: z.array(Waiver).default([]),
    patches: z.array(PatchInput),
  })
  .strict()
  .meta({ title: "patchlab gate input (reports/<run>/gate-input.json)" });
export type GateInput = z.input<typeof GateInput>;

export const WaiverRef = z
  .object({ id: z.string().optional(), reason: z.string(), approver: z.string(), expires: z.string() })
  .strict();

export const Reason = z
  .object({
    outcome: Outcome,
    effect: Effect,
    rule: z.string().describe("the gate rule that gave this outcome (harness/gate/rules.ts)"),
    phase: GatePhase,
    machine: z.string(),
    kind: EvidenceKind,
    suite: z.string().optional(),
    check: z.string().describe("check title, or the step/suite/watcher when the reason is about all of it"),
    baseline: z.enum(["passed", "failed", "broken", "skipped", "missing"]).optional().describe("the same check's baseline outcome"),
    message: z.string().optional(),
    attempts: z.array(Attempt).optional(),
    waiver: WaiverRef.optional().describe("the waiver that accepted this failure"),
    expiredWaivers: z.array(WaiverRef).optional().describe("waivers that matched but had expired: not applied"),
  })
  .strict();
export type Reason = z.infer<typeof Reason>;

export const Counts = z
  .object({
    required: z.number().int().nonnegative().describe("required results (suites, steps, watchers)"),
    checks: z.number().int().nonnegative().describe("individual check results judged"),
    passed: z.number().int().nonnegative(),
    failed: z.number().int().nonnegative(),
    broken: z.number().int().nonnegative(),
    missing: z.number().int().nonnegative(),
    preExisting: z.number().int().nonnegative(),
    flaky: z.number().int().nonnegative(),
    waived: z.number().int().nonnegative(),
    skipped: z.number().int().nonnegative(),
  })
  .strict();
export type Counts = z.infer<typeof Counts>;

export const PatchDecision = z
  .object({
    patch: z.string(),
    title: z.string().optional(),
    severity: z.string().optional(),
    verdict: Verdict,
    reasons: z.array(Reason).describe("every result that is not a plain pass"),
    notes: z.array(z.string()).describe("for people: non-blocking findings, why a patch is not applicable"),
    counts: Counts,
    payload: z.array(PayloadItem),
    testedWith: z.array(z.string()),
  })
  .strict();
export type PatchDecision = z.infer<typeof PatchDecision>;

export const ConfigProblem = z
  .object({
    file: z.string().optional(),
    field: z.string().optional(),
    line: z.number().int().optional(),
    message: z.string(),
    remedy: z.string(),
  })
  .strict();
export type ConfigProblem = z.infer<typeof ConfigProblem>;

export const Decision = z
  .object({
    schemaVersion: z.literal(2),
    verdict: RunVerdict,
    exitCode: z.union([z.literal(0), z.literal(1), z.literal(2), z.literal(3)]).describe("0 all approved, 1 any rejected, 2 undecided, 3 bad input"),
    summary: z.string().describe("for people"),
    patches: z.array(PatchDecision),
    approvedSet: z.array(PayloadItem).describe("exactly the packages of the approved patches: what may be promoted"),
    error: z
      .object({ kind: z.string(), message: z.string(), remedy: z.string() })
      .strict()
      .optional()
      .describe("why the run could not finish (a lab error): its patches are undecided"),
    problems: z.array(ConfigProblem).optional().describe("bad input (exit 3): what to fix; nothing was changed"),
    run: z
      .object({
        id: z.string(),
        batch: z.string().describe("batch name"),
        lab: z.string(),
        decidedAt: z.string().describe("ISO 8601 time the decision was written"),
        patches: z.array(z.object({ id: z.string(), title: z.string(), severity: z.string() }).strict()),
        waivers: z.string().optional().describe("the waivers file the decision used"),
        regatedFrom: z.string().optional().describe("set by `patchlab gate`: the run whose saved input was re-evaluated"),
      })
      .strict()
      .optional()
      .describe("which run decided: added when gate.json is written (the gate itself is pure)"),
  })
  .strict()
  .meta({ title: "patchlab gate decision (gate.json)" });
export type Decision = z.infer<typeof Decision>;
