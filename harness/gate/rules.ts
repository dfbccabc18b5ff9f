// The gate's rules: one ordered table, first match wins. Each judged result (a step, a suite,
// one check of a suite, a watcher finding) is reduced to Facts; the rule that matches names
// its outcome, and the vocabulary gives the outcome's effect on the patch.
import type { TestStatus } from "../report/outcome-model.ts";
import type { GatePhase } from "./schema.ts";
import type { Outcome } from "./vocabulary.ts";

export interface Facts {
  /** The result's final status, or absent when nothing was recorded. */
  status: TestStatus | "absent";
  /** Statuses of earlier attempts (a failed check is run again once). */
  attempts: TestStatus[];
  phase: GatePhase;
  /** A suite check after the patch: judged against the same check's baseline (the ratchet). */
  compared: boolean;
  baseline?: TestStatus | "missing";
  /** Why a result that exists is not evidence (e.g. the restart before it was broken). */
  notEvidence?: string;
  /** An unexpired waiver matches. */
  waived: boolean;
}

export interface Rule {
  rule: string;
  when: (f: Facts) => boolean;
  /** `ignored`: neither evidence nor a problem (a check skipped in every phase). */
  outcome: Outcome | "ignored";
  /** Explanation added to the result's own message. */
  why?: (f: Facts) => string;
}

export const RULES: readonly Rule[] = [
  { rule: "no-result", when: (f) => f.status === "absent", outcome: "missing" },
  { rule: "not-evidence", when: (f) => f.notEvidence !== undefined, outcome: "missing", why: (f) => f.notEvidence! },
  { rule: "skipped-after-passing", when: (f) => f.status === "skipped" && f.baseline === "passed", outcome: "missing", why: () => "passed in the baseline but was skipped after the patch: not evidence" },
  { rule: "skipped-step", when: (f) => f.status === "skipped" && !f.compared && f.phase !== "baseline", outcome: "missing", why: () => "required but did not run" },
  { rule: "skipped", when: (f) => f.status === "skipped", outcome: "ignored" },
  { rule: "broken", when: (f) => f.status === "broken", outcome: "broken" },
  { rule: "flaky", when: (f) => f.status === "passed" && f.attempts.includes("failed"), outcome: "flaky", why: () => "failed, then passed when run again" },
  { rule: "passed", when: (f) => f.status === "passed", outcome: "passed" },
  // From here on the result failed.
  { rule: "failing-in-baseline", when: (f) => f.phase === "baseline", outcome: "pre-existing" },
  { rule: "failing-before-too", when: (f) => f.compared && f.baseline === "failed", outcome: "pre-existing" },
  { rule: "no-baseline", when: (f) => f.compared && f.baseline !== "passed", outcome: "missing", why: (f) => `failed after the patch, but its baseline is ${f.baseline ?? "missing"}: cannot tell a regression from a pre-existing failure` },
  { rule: "waived", when: (f) => f.waived, outcome: "waived" },
  { rule: "regression", when: (f) => f.compared, outcome: "failed", why: () => "passed in the baseline, fails after the patch" },
  { rule: "failed", when: () => true, outcome: "failed" },
];

export function judge(f: Facts): { rule: string; outcome: Outcome | "ignored"; why?: string } {
  const r = RULES.find((x) => x.when(f))!; // the last rule matches anything
  return { rule: r.rule, outcome: r.outcome, ...(r.why ? { why: r.why(f) } : {}) };
}
