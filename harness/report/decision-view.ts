// The part of gate.json the report reads. Deliberately loose (unknown fields pass): the gate's
// Decision grows (waivers, payload identity...) and the report must keep reading what it needs:
// per patch its verdict, reasons and counts, and the run's summary and batch.
import fs from "node:fs";
import { z } from "zod";
import { ConfigError } from "../core/errors.ts";

const WaiverView = z.looseObject({ id: z.string().optional(), reason: z.string().optional(), approver: z.string().optional(), expires: z.string().optional(), expired: z.boolean().optional() });

const ReasonView = z.looseObject({
  /** gate.json v2: the vocabulary word (passed, failed, broken, pre-existing, flaky, waived, missing). */
  outcome: z.string().optional(),
  /** gate.json v2: the rule that decided (regression, no-baseline, ...). */
  rule: z.string().optional(),
  /** v2: evidence kind (step, suite, watch); v1: the reason's kind (regression, pre-existing, ...). */
  kind: z.string().optional(),
  effect: z.string().optional(),
  phase: z.string().optional(),
  machine: z.string().optional(),
  suite: z.string().optional(),
  check: z.string().optional(),
  baseline: z.string().optional(),
  message: z.string().optional(),
  /** The waiver that accepted this failure. */
  waiver: WaiverView.optional(),
  /** Waivers that matched but had expired: not applied. */
  expiredWaivers: z.array(WaiverView).optional(),
});
export type ReasonView = z.infer<typeof ReasonView>;
export type WaiverView = z.infer<typeof WaiverView>;

const V1_OUTCOME: Record<string, string> = { regression: "failed", "install-failed": "failed", "uninstall-failed": "failed", "failed-without-baseline": "missing", crashed: "broken" };

/** The reason's word in the gate's vocabulary (gate.json v2 `outcome`; v1 said it in `kind`). */
const EVIDENCE_KINDS = ["step", "suite", "watch"];

export function outcomeOf(r: ReasonView): string {
  return r.outcome ?? V1_OUTCOME[r.kind ?? ""] ?? (EVIDENCE_KINDS.includes(r.kind ?? "") ? undefined : r.kind) ?? "failed";
}

/** What decided, for people: "regression", "pre-existing (failing-before-too)", "missing (no-baseline)", "broken". */
export function ruleOf(r: ReasonView): string {
  const outcome = outcomeOf(r);
  const rule = r.rule ?? (EVIDENCE_KINDS.includes(r.kind ?? "") ? undefined : r.kind);
  if (!rule || rule === outcome) return outcome;
  return outcome === "failed" ? rule : `${outcome} (${rule})`;
}

const PatchRef = z.looseObject({
  id: z.string(),
  title: z.string().optional(),
  severity: z.string().optional(),
  advisory: z.string().optional(),
  cves: z.array(z.string()).optional(),
});

export const DecisionView = z.looseObject({
  verdict: z.string().optional(),
  exitCode: z.number().optional(),
  summary: z.string().default(""),
  patches: z.array(
    z.looseObject({
      patch: z.string(),
      verdict: z.string(),
      title: z.string().optional(),
      severity: z.string().optional(),
      reasons: z.array(ReasonView).default([]),
      notes: z.array(z.string()).default([]),
      counts: z.record(z.string(), z.number()).default({}),
    }),
  ),
  run: z
    .looseObject({
      id: z.string().optional(),
      batch: z.string().optional(),
      lab: z.string().optional(),
      decidedAt: z.string().optional(),
      patches: z.array(PatchRef).optional(),
    })
    .optional(),
});
export type DecisionView = z.infer<typeof DecisionView>;
export type PatchDecisionView = DecisionView["patches"][number];

/** Reads `file` (gate.json) for the report; a file that is not a decision is a ConfigError naming it. */
export function readDecisionView(file: string): DecisionView {
  let raw: unknown;
  try {
    raw = JSON.parse(fs.readFileSync(file, "utf8"));
  } catch (e) {
    throw new ConfigError(`${file} is not readable JSON: ${(e as Error).message}`, "re-run the batch, or `patchlab gate <run>` to write it again", { file });
  }
  const r = DecisionView.safeParse(raw);
  if (!r.success) {
    const problems = r.error.issues.map((i) => `${i.path.join(".") || "(root)"}: ${i.message}`).join("; ");
    throw new ConfigError(`${file} is not a gate decision: ${problems}`, "re-run the batch, or `patchlab gate <run>` to write it again", { file });
  }
  return r.data;
}
