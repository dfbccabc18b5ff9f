import { expect } from "chai";
import { decide, type GateInput, type PatchInput, type SuiteRecord } from "../../../harness/gate/gate.ts";
import type { TestOutcome } from "../../../harness/report/outcome-model.ts";

const HOME = "web role > web serves its home page over HTTP";
const HEALTH = "web role > web answers its health check at /healthz";

function t(name: string, status: TestOutcome["status"], message?: string): TestOutcome {
  return { name, status, durationMs: 5, ...(message ? { message } : {}) };
}
function rec(phase: SuiteRecord["phase"], tests: TestOutcome[] | null, extra: { crashed?: boolean; detail?: string; machine?: string } = {}): SuiteRecord {
  return {
    phase,
    machine: extra.machine ?? "web",
    suite: "web",
    result: tests === null ? null : { suite: "web", tests, crashed: extra.crashed ?? false, detail: extra.detail ?? "" },
  };
}
const ok = [{ machine: "web", outcome: { status: "ok" as const } }];
function patch(suites: SuiteRecord[], over: Partial<PatchInput> = {}): PatchInput {
  return { patch: "nginx-1.22.1-9+deb12u2", install: ok, uninstall: ok, suites, ...over };
}
const allPass = [t(HOME, "passed"), t(HEALTH, "passed")];
function gate(...patches: PatchInput[]) {
  return decide({ patches } satisfies GateInput);
}

describe("gate.decide", () => {
  it("approves when every required check passes in every phase (exit 0)", () => {
    const d = gate(patch([rec("baseline", allPass), rec("post-install", allPass), rec("post-uninstall", allPass)]));
    expect(d.verdict).to.equal("approved");
    expect(d.exitCode).to.equal(0);
    expect(d.patches[0]!.reasons).to.deep.equal([]);
    expect(d.patches[0]!.counts).to.include({ checks: 6, passed: 6, failed: 0 });
    expect(d.summary).to.contain("Of 6 required checks, 6 passed.");
  });

  it("rejects a regression: passed in baseline, failed after install (exit 1)", () => {
    const d = gate(patch([
      rec("baseline", allPass),
      rec("post-install", [t(HOME, "failed", "GET http://web.lab.test/ : status 500, body: \"oops\""), t(HEALTH, "passed")]),
      rec("post-uninstall", allPass),
    ]));
    expect(d.verdict).to.equal("rejected");
    expect(d.exitCode).to.equal(1);
    const [r] = d.patches[0]!.reasons;
    expect(r).to.include({ kind: "regression", effect: "rejects", phase: "post-install", machine: "web", check: HOME, outcome: "failed", baseline: "passed" });
    expect(r!.message).to.contain("status 500");
    expect(d.summary).to.contain(`Of 6 required checks, 1 failed: web/post-install: ${HOME} (GET http://web.lab.test/ : status 500`);
  });

  it("rejects a regression in post-uninstall (uninstall left the machine broken)", () => {
    const d = gate(patch([rec("baseline", allPass), rec("post-install", allPass), rec("post-uninstall", [t(HOME, "passed"), t(HEALTH, "failed", "status 503")])]));
    expect(d.verdict).to.equal("rejected");
    expect(d.patches[0]!.reasons[0]).to.include({ kind: "regression", phase: "post-uninstall", check: HEALTH });
  });

  it("a pre-existing failure (failing in baseline and after) is shown but does not block", () => {
    const failing = [t(HOME, "passed"), t(HEALTH, "failed", "status 404")];
    const d = gate(patch([rec("baseline", failing), rec("post-install", failing), rec("post-uninstall", failing)]));
    expect(d.verdict).to.equal("approved");
    expect(d.exitCode).to.equal(0);
    const reasons = d.patches[0]!.reasons;
    expect(reasons).to.have.length(3);
    expect(reasons.every((r) => r.kind === "pre-existing" && r.effect === "none")).to.equal(true);
    expect(d.patches[0]!.counts.preExisting).to.equal(3);
    expect(d.summary).to.contain("pre-existing failures (not blocking)");
  });

  it("a missing result never approves: a required suite with no result gives needs-review", () => {
    const d = gate(patch([rec("baseline", allPass), rec("post-install", allPass), rec("post-uninstall", null)]));
    expect(d.verdict).to.equal("needs-review");
    expect(d.exitCode).to.equal(2);
    expect(d.patches[0]!.reasons[0]).to.include({ kind: "missing", effect: "undecided", phase: "post-uninstall", outcome: "missing" });
    expect(d.patches[0]!.counts.missing).to.equal(1);
  });

  it("a missing result never approves: a suite result with no checks is missing, not satisfied", () => {
    const d = gate(patch([rec("baseline", allPass), rec("post-install", []), rec("post-uninstall", allPass)]));
    expect(d.verdict).to.equal("needs-review");
    expect(d.patches[0]!.reasons[0]).to.include({ kind: "missing", phase: "post-install" });
  });

  it("a missing result never approves: a suite whose every check was skipped verified nothing", () => {
    const skipped = [t(HOME, "skipped"), t(HEALTH, "skipped")];
    const d = gate(patch([rec("baseline", allPass), rec("post-install", skipped), rec("post-uninstall", allPass)]));
    expect(d.verdict).to.equal("needs-review");
    expect(d.patches[0]!.reasons[0]).to.include({ kind: "missing", phase: "post-install", message: "every check of the suite was skipped" });
  });

  it("a missing result never approves: a check that vanished from a finished suite is missing", () => {
    const d = gate(patch([rec("baseline", allPass), rec("post-install", [t(HOME, "passed")]), rec("post-uninstall", allPass)]));
    expect(d.verdict).to.equal("needs-review");
    expect(d.patches[0]!.reasons[0]).to.include({ kind: "missing", phase: "post-install", check: HEALTH });
  });

  it("a missing result never approves: a patch with no recorded suites is needs-review", () => {
    const d = gate(patch([]));
    expect(d.verdict).to.equal("needs-review");
  });

  it("a missing result never approves: no patches at all is needs-review", () => {
    const d = gate();
    expect(d.verdict).to.equal("needs-review");
    expect(d.exitCode).to.equal(2);
  });

  it("broken gives needs-review, not approved", () => {
    const d = gate(patch([rec("baseline", allPass), rec("post-install", [t(HOME, "broken", "client could not run curl"), t(HEALTH, "passed")]), rec("post-uninstall", allPass)]));
    expect(d.verdict).to.equal("needs-review");
    expect(d.exitCode).to.equal(2);
    expect(d.patches[0]!.reasons[0]).to.include({ kind: "broken", effect: "undecided", outcome: "broken" });
  });

  it("broken in baseline also gives needs-review", () => {
    const d = gate(patch([rec("baseline", [t(HOME, "broken", "lab down"), t(HEALTH, "passed")]), rec("post-install", allPass), rec("post-uninstall", allPass)]));
    expect(d.verdict).to.equal("needs-review");
  });

  it("a crashed suite gives needs-review, and its finished checks still count", () => {
    const d = gate(patch([
      rec("baseline", allPass),
      rec("post-install", [t(HOME, "passed")], { crashed: true, detail: "killed after 60000 ms" }),
      rec("post-uninstall", allPass),
    ]));
    expect(d.verdict).to.equal("needs-review");
    const kinds = d.patches[0]!.reasons.map((r) => r.kind);
    expect(kinds).to.deep.equal(["crashed"]);
    expect(d.patches[0]!.reasons[0]!.message).to.equal("killed after 60000 ms");
  });

  it("a regression outweighs broken results: rejected, not needs-review", () => {
    const d = gate(patch([rec("baseline", allPass), rec("post-install", [t(HOME, "failed", "500"), t(HEALTH, "broken", "x")]), rec("post-uninstall", null)]));
    expect(d.verdict).to.equal("rejected");
    expect(d.exitCode).to.equal(1);
  });

  it("a failure with no baseline to compare with is undecided, not approved and not a proven regression", () => {
    const d = gate(patch([rec("baseline", null), rec("post-install", [t(HOME, "failed", "500"), t(HEALTH, "passed")]), rec("post-uninstall", allPass)]));
    expect(d.verdict).to.equal("needs-review");
    expect(d.patches[0]!.reasons.map((r) => r.kind)).to.include("failed-without-baseline");
  });

  it("a failed install rejects (a PatchError)", () => {
    const d = gate(patch([rec("baseline", allPass), rec("post-install", allPass), rec("post-uninstall", allPass)], {
      install: [{ machine: "web", outcome: { status: "failed", message: "dpkg: error processing package nginx (--configure)" } }],
    }));
    expect(d.verdict).to.equal("rejected");
    expect(d.patches[0]!.reasons[0]).to.include({ kind: "install-failed", phase: "install", machine: "web", outcome: "failed" });
    expect(d.summary).to.contain("dpkg: error processing package nginx");
  });

  it("a failed uninstall rejects", () => {
    const d = gate(patch([rec("baseline", allPass), rec("post-install", allPass), rec("post-uninstall", allPass)], {
      uninstall: [{ machine: "web", outcome: { status: "failed", message: "prerm failed" } }],
    }));
    expect(d.verdict).to.equal("rejected");
    expect(d.patches[0]!.reasons[0]).to.include({ kind: "uninstall-failed", phase: "uninstall" });
  });

  it("an install that never ran is needs-review", () => {
    const d = gate(patch([rec("baseline", allPass), rec("post-install", null), rec("post-uninstall", null)], {
      install: [{ machine: "web", outcome: { status: "not-run", reason: "lab error before install" } }],
    }));
    expect(d.verdict).to.equal("needs-review");
  });

  it("skipped checks neither block nor count as failures", () => {
    const d = gate(patch([rec("baseline", [t(HOME, "passed"), t(HEALTH, "skipped")]), rec("post-install", [t(HOME, "passed"), t(HEALTH, "skipped")])]));
    expect(d.verdict).to.equal("approved");
    expect(d.patches[0]!.counts).to.include({ passed: 2, skipped: 2 });
  });

  it("checks are compared per machine: a failure on one machine is not excused by another's baseline", () => {
    const d = gate(patch([
      rec("baseline", allPass, { machine: "web" }),
      rec("baseline", [t(HOME, "failed", "x"), t(HEALTH, "passed")], { machine: "web2" }),
      rec("post-install", [t(HOME, "failed", "500"), t(HEALTH, "passed")], { machine: "web" }),
      rec("post-install", [t(HOME, "failed", "x"), t(HEALTH, "passed")], { machine: "web2" }),
    ]));
    expect(d.verdict).to.equal("rejected");
    const regression = d.patches[0]!.reasons.filter((r) => r.kind === "regression");
    expect(regression.map((r) => r.machine)).to.deep.equal(["web"]);
  });

  it("decides each patch on its own; the overall verdict is the worst", () => {
    const good = patch([rec("baseline", allPass), rec("post-install", allPass)], { patch: "tzdata" });
    const bad = patch([rec("baseline", allPass), rec("post-install", [t(HOME, "failed", "500"), t(HEALTH, "passed")])], { patch: "nginx" });
    const undecided = patch([rec("baseline", allPass), rec("post-install", null)], { patch: "curl" });
    const d = gate(good, bad, undecided);
    expect(d.patches.map((p) => [p.patch, p.verdict])).to.deep.equal([["tzdata", "approved"], ["nginx", "rejected"], ["curl", "needs-review"]]);
    expect(d.verdict).to.equal("rejected");
    expect(gate(good, undecided).verdict).to.equal("needs-review");
    expect(gate(good, undecided).exitCode).to.equal(2);
  });

  it("rejects input that does not match the gate input schema (unknown key)", () => {
    expect(() => decide({ patches: [{ ...patch([]), extra: 1 }] } as unknown as GateInput)).to.throw();
  });

  it("is pure: the same input gives the same decision", () => {
    const input = { patches: [patch([rec("baseline", allPass), rec("post-install", [t(HOME, "failed", "500"), t(HEALTH, "passed")])])] };
    const copy = structuredClone(input);
    expect(decide(input)).to.deep.equal(decide(input));
    expect(input).to.deep.equal(copy);
  });
});
