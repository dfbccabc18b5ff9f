// The deployment gate: a pure function from recorded outcomes to a verdict (no I/O, no clock),
// so a decision can be re-derived and tested from gate input alone.
// Rules (Greenwave + britney's ratchet):
//   - only pass -> fail blocks: a check that passed in baseline and fails after install or
//     uninstall is a regression and rejects the patch; failing in baseline too is pre-existing
//     (shown, never blocking);
//   - a failed install/uninstall rejects;
//   - broken, crashed, missing or not-run leaves the patch undecided (needs review), never approved.
import { ExitCode } from "../core/errors.ts";
import type { Phase } from "../run/suite-context.ts";
import type { TestStatus } from "../report/outcome-model.ts";
import {
  GateInput,
  type Counts,
  type Decision,
  type MachineStep,
  type PatchDecision,
  type PatchInput,
  type Reason,
  type Verdict,
} from "./schema.ts";
import { summarize } from "./summary.ts";

export * from "./schema.ts";

const PHASES: Phase[] = ["baseline", "post-install", "post-uninstall"];
/** When one check reports twice in a phase, the more decisive outcome stands. */
const PRIORITY: Record<TestStatus, number> = { failed: 3, broken: 2, skipped: 1, passed: 0 };

export function decide(input: GateInput): Decision {
  const parsed = GateInput.parse(input);
  const patches = parsed.patches.map(decidePatch);
  const verdict: Verdict = patches.length === 0
    ? "needs-review" // nothing was verified: never approve nothing
    : patches.some((p) => p.verdict === "rejected")
      ? "rejected"
      : patches.every((p) => p.verdict === "approved")
        ? "approved"
        : "needs-review";
  const exitCode = verdict === "approved" ? ExitCode.approved : verdict === "rejected" ? ExitCode.rejected : ExitCode.undecided;
  return { schemaVersion: 1, verdict, exitCode, summary: summarize(verdict, exitCode, patches), patches };
}

interface Entry {
  status: TestStatus;
  message?: string;
}

function decidePatch(p: PatchInput): PatchDecision {
  const reasons: Reason[] = [];
  const counts: Counts = { checks: 0, passed: 0, failed: 0, preExisting: 0, broken: 0, missing: 0, skipped: 0 };

  stepReasons(p.patch, "install", p.install, reasons);
  stepReasons(p.patch, "uninstall", p.uninstall, reasons);

  // machine/suite -> check -> phase -> outcome; and which phases of a machine/suite produced results.
  const checks = new Map<string, Map<string, Map<Phase, Entry>>>();
  const ran = new Map<string, Set<Phase>>();
  for (const rec of p.suites) {
    const where = { phase: rec.phase, machine: rec.machine, suite: rec.suite };
    const r = rec.result;
    // A suite whose every check was skipped verified nothing: as unsatisfied as no result at all.
    if (!r || (!r.crashed && r.tests.every((t) => t.status === "skipped"))) {
      counts.checks++;
      counts.missing++;
      const why = !r ? "the required suite produced no result" : r.tests.length ? "every check of the suite was skipped" : "the suite reported no checks";
      reasons.push({ kind: "missing", effect: "undecided", ...where, check: `${rec.suite} suite`, outcome: "missing", message: why });
      continue;
    }
    if (r.crashed) {
      reasons.push({ kind: "crashed", effect: "undecided", ...where, check: `${rec.suite} suite`, outcome: "broken", message: r.detail });
      if (r.tests.length === 0) {
        counts.checks++;
        counts.broken++;
        continue;
      }
    }
    const key = `${rec.machine}\u0000${rec.suite}`;
    if (!r.crashed) (ran.get(key) ?? ran.set(key, new Set()).get(key)!).add(rec.phase);
    const byCheck = checks.get(key) ?? checks.set(key, new Map()).get(key)!;
    for (const t of r.tests) {
      const byPhase = byCheck.get(t.name) ?? byCheck.set(t.name, new Map()).get(t.name)!;
      const prev = byPhase.get(rec.phase);
      if (!prev || PRIORITY[t.status] > PRIORITY[prev.status]) byPhase.set(rec.phase, { status: t.status, ...(t.message ? { message: t.message } : {}) });
    }
  }

  for (const [key, byCheck] of checks) {
    const [machine, suite] = key.split("\u0000") as [string, string];
    for (const [check, byPhase] of byCheck) {
      const baseline = byPhase.get("baseline");
      for (const phase of PHASES) {
        const e = byPhase.get(phase);
        const where = { phase, machine, suite, check };
        if (!e) {
          // The suite finished in this phase but this check is gone (e.g. its `before` hook failed).
          if (ran.get(key)?.has(phase)) {
            counts.checks++;
            counts.missing++;
            reasons.push({ kind: "missing", effect: "undecided", ...where, outcome: "missing", message: "the check reported in another phase but not in this one" });
          }
          continue;
        }
        counts.checks++;
        const msg = e.message ? { message: e.message } : {};
        if (e.status === "passed") counts.passed++;
        else if (e.status === "skipped") counts.skipped++;
        else if (e.status === "broken") {
          counts.broken++;
          reasons.push({ kind: "broken", effect: "undecided", ...where, outcome: "broken", ...msg });
        } else if (phase === "baseline") {
          counts.preExisting++;
          reasons.push({ kind: "pre-existing", effect: "none", ...where, outcome: "pre-existing", ...msg });
        } else if (baseline?.status === "passed") {
          counts.failed++;
          reasons.push({ kind: "regression", effect: "rejects", ...where, outcome: "failed", baseline: "passed", ...msg });
        } else if (baseline?.status === "failed") {
          counts.preExisting++;
          reasons.push({ kind: "pre-existing", effect: "none", ...where, outcome: "pre-existing", baseline: "failed", ...msg });
        } else {
          counts.failed++;
          reasons.push({ kind: "failed-without-baseline", effect: "undecided", ...where, outcome: "failed", baseline: baseline?.status ?? "missing", ...msg });
        }
      }
    }
  }

  if (counts.checks === 0 && p.suites.length === 0) {
    reasons.push({ kind: "missing", effect: "undecided", phase: "post-install", machine: "-", check: "required checks", outcome: "missing", message: "no required suite was recorded for this patch" });
  }
  const verdict: Verdict = reasons.some((r) => r.effect === "rejects")
    ? "rejected"
    : reasons.some((r) => r.effect === "undecided")
      ? "needs-review"
      : "approved";
  return { patch: p.patch, verdict, reasons, counts };
}

function stepReasons(patch: string, step: "install" | "uninstall", steps: MachineStep[], reasons: Reason[]): void {
  if (steps.length === 0) {
    reasons.push({ kind: "missing", effect: "undecided", phase: step, machine: "-", check: `${step} ${patch}`, outcome: "missing", message: `no ${step} was recorded on any machine` });
  }
  for (const s of steps) {
    const where = { phase: step, machine: s.machine, check: `${step} ${patch}` } as const;
    if (s.outcome.status === "failed") {
      reasons.push({ kind: step === "install" ? "install-failed" : "uninstall-failed", effect: "rejects", ...where, outcome: "failed", message: s.outcome.message });
    } else if (s.outcome.status === "not-run") {
      reasons.push({ kind: "missing", effect: "undecided", ...where, outcome: "missing", message: s.outcome.reason ?? `${step} did not run` });
    }
  }
}
