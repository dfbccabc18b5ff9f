// The part of gate.json the report reads. Deliberately loose (unknown fields pass): the gate's
// Decision grows (waivers, payload identity...) and the report must keep reading what it needs:
// per patch its verdict, reasons and counts, and the run's summary and batch.
import fs from "node:fs";
import { z } from "zod";
import { ConfigError } from "../core/errors.ts";

const ReasonView = z.looseObject({
  kind: z.string(),
  effect: z.string().optional(),
  phase: z.string().optional(),
  machine: z.string().optional(),
  suite: z.string().optional(),
  check: z.string().optional(),
  outcome: z.string().optional(),
  baseline: z.string().optional(),
  message: z.string().optional(),
  /** A waiver that covers (or, expired, no longer covers) this failure; shape owned by the gate. */
  waiver: z.looseObject({ id: z.string().optional(), reason: z.string().optional(), approver: z.string().optional(), expires: z.string().optional(), expired: z.boolean().optional() }).optional(),
});
export type ReasonView = z.infer<typeof ReasonView>;

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
      reasons: z.array(ReasonView).default([]),
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
