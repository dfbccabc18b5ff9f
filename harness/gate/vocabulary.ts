// The gate's vocabulary, in one place: what each outcome means and what it does to a patch.
// Everything the gate says (gate.json, summary, Allure categories, JUnit) uses these words.
import { z } from "zod";

export const Outcome = z.enum(["passed", "failed", "broken", "pre-existing", "flaky", "waived", "missing"]);
export type Outcome = z.infer<typeof Outcome>;

/** What an outcome does to the patch's verdict. */
export const Effect = z.enum(["rejects", "undecided", "none"]);
export type Effect = z.infer<typeof Effect>;

export const VOCABULARY: Record<Outcome, { effect: Effect; meaning: string }> = {
  passed: { effect: "none", meaning: "the required check or step passed" },
  failed: { effect: "rejects", meaning: "the patch broke something: a check that passed before fails after, a finding that rejects by policy, or its installer/uninstaller failed" },
  broken: { effect: "undecided", meaning: "the lab or the harness could not run it (retried first): never a verdict on the patch" },
  "pre-existing": { effect: "none", meaning: "failed in the baseline too: shown, not blocking (only pass -> fail blocks)" },
  flaky: { effect: "none", meaning: "failed, then passed when run again: shown, not blocking on its own" },
  waived: { effect: "none", meaning: "failed, but accepted by an unexpired waiver (reason, approver, expiry)" },
  missing: { effect: "undecided", meaning: "required but without a usable result: never satisfied" },
};

export const effectOf = (o: Outcome): Effect => VOCABULARY[o].effect;

/** A patch's verdict; `not-applicable`: no lab machine has what it patches (nothing to verify, nothing approved). */
export const Verdict = z.enum(["approved", "rejected", "needs-review", "not-applicable"]);
export type Verdict = z.infer<typeof Verdict>;

/** The run's verdict: the worst of its patches', or bad input (exit 3) when nothing could start. */
export const RunVerdict = z.enum(["approved", "rejected", "needs-review", "bad-input"]);
export type RunVerdict = z.infer<typeof RunVerdict>;
