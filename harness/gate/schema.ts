// What the gate decides on and what it decides: gate.json is a file format, so these zod
// schemas are its single source of truth (JSON Schema for editors/CI comes from them).
import { z } from "zod";
import { SuiteRunResult } from "../report/outcome-model.ts";
import { Phase } from "../run/suite-context.ts";

/** Outcome of a patch's install or uninstall on one machine. */
export const StepOutcome = z.discriminatedUnion("status", [
  z.object({ status: z.literal("ok") }).strict(),
  z.object({ status: z.literal("failed"), message: z.string() }).strict().describe("the patch's (un)installer failed: a PatchError"),
  z.object({ status: z.literal("not-run"), reason: z.string().optional() }).strict().describe("the step never ran (an earlier lab error)"),
]);
export type StepOutcome = z.infer<typeof StepOutcome>;

export const MachineStep = z.object({ machine: z.string().min(1), outcome: StepOutcome }).strict();
export type MachineStep = z.infer<typeof MachineStep>;

/** One required suite in one phase on one machine. */
export const SuiteRecord = z
  .object({
    phase: Phase,
    machine: z.string().min(1),
    suite: z.string().min(1),
    result: SuiteRunResult.nullable().describe("null when the required suite produced nothing: missing, never satisfied"),
  })
  .strict();
export type SuiteRecord = z.infer<typeof SuiteRecord>;

export const PatchInput = z
  .object({
    patch: z.string().min(1),
    install: z.array(MachineStep),
    uninstall: z.array(MachineStep),
    suites: z.array(SuiteRecord),
  })
  .strict();
export type PatchInput = z.infer<typeof PatchInput>;

export const GateInput = z.object({ patches: z.array(PatchInput) }).strict();
export type GateInput = z.infer<typeof GateInput>;

export const Verdict = z.enum(["approved", "rejected", "needs-review"]);
export type Verdict = z.infer<typeof Verdict>;

export const ReasonKind = z.enum([
  "regression", // passed in baseline, failed after install or uninstall: rejects
  "install-failed", // rejects
  "uninstall-failed", // rejects
  "failed-without-baseline", // failed, but there is no passing or failing baseline to compare with: undecided
  "broken", // the lab or harness could not run the check: undecided
  "crashed", // the suite process crashed or timed out: undecided
  "missing", // a required result or step is absent: undecided
  "pre-existing", // failed in baseline too: shown, not blocking
]);
export type ReasonKind = z.infer<typeof ReasonKind>;

export const Effect = z.enum(["rejects", "undecided", "none"]);
export type Effect = z.infer<typeof Effect>;

export const ReasonPhase = z.enum(["baseline", "install", "post-install", "uninstall", "post-uninstall"]);
export type ReasonPhase = z.infer<typeof ReasonPhase>;

export const Reason = z
  .object({
    kind: ReasonKind,
    effect: Effect,
    phase: ReasonPhase,
    machine: z.string(),
    suite: z.string().optional(),
    check: z.string().describe("test full title, or the step/suite when the reason is about a whole step/suite"),
    outcome: z.enum(["failed", "broken", "missing", "pre-existing"]),
    baseline: z.enum(["passed", "failed", "broken", "skipped", "missing"]).optional().describe("the same check's baseline outcome"),
    message: z.string().optional(),
  })
  .strict();
export type Reason = z.infer<typeof Reason>;

export const Counts = z
  .object({
    checks: z.number().int().nonnegative().describe("required check results (a missing suite counts as one)"),
    passed: z.number().int().nonnegative(),
    failed: z.number().int().nonnegative().describe("regressions and failures without a baseline"),
    preExisting: z.number().int().nonnegative(),
    broken: z.number().int().nonnegative(),
    missing: z.number().int().nonnegative(),
    skipped: z.number().int().nonnegative(),
  })
  .strict();
export type Counts = z.infer<typeof Counts>;

export const PatchDecision = z
  .object({ patch: z.string(), verdict: Verdict, reasons: z.array(Reason), counts: Counts })
  .strict();
export type PatchDecision = z.infer<typeof PatchDecision>;

export const Decision = z
  .object({
    schemaVersion: z.literal(1),
    verdict: Verdict,
    exitCode: z.union([z.literal(0), z.literal(1), z.literal(2)]).describe("0 all approved, 1 any rejected, 2 otherwise"),
    summary: z.string().describe("for people"),
    patches: z.array(PatchDecision),
    run: z
      .object({
        id: z.string(),
        batch: z.string().describe("batch name"),
        lab: z.string(),
        decidedAt: z.string().describe("ISO 8601 time the decision was written"),
        patches: z.array(z.object({ id: z.string(), title: z.string(), severity: z.string() }).strict()),
      })
      .strict()
      .optional()
      .describe("which run decided: added when gate.json is written (the gate itself is pure)"),
  })
  .strict()
  // Exported to lab-config/schemas/gate.schema.json with the other file formats (config/json-schemas.ts).
  .meta({ title: "patchlab gate decision (gate.json)" });
export type Decision = z.infer<typeof Decision>;
