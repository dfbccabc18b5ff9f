import { expect } from "chai";
import { decide, type Evidence, type GateInput, type PatchInput } from "../../../harness/gate/gate.ts";
import { RULES } from "../../../harness/gate/rules.ts";
import { Outcome, VOCABULARY } from "../../../harness/gate/vocabulary.ts";
import type { Waiver } from "../../../harness/gate/waivers.ts";
import type { TestOutcome } from "../../../harness/report/outcome-model.ts";
import { requiredOn, ALL_PHASES } from "../../../harness/run/gate-input.ts";

const HOME = "web role > web serves its home page over HTTP";
const HEALTH = "web role > web answers its health check at /healthz";
const TODAY = "2026-11-27";

const t = (name: string, status: TestOutcome["status"], extra: Partial<TestOutcome> = {}): TestOutcome => ({ name, status, durationMs: 5, ...extra });
const pass = () => [t(HOME, "passed"), t(HEALTH, "passed")];
const suite = (machine: string, phase: Evidence["phase"], tests: TestOutcome[], crashed = false): Evidence => ({ kind: "suite", machine, phase, name: "web", result: { suite: "web", tests, crashed, detail: crashed ? "killed after 60000 ms" : "" } });
const step = (machine: string, name: string, status: TestOutcome["status"] = "passed", message?: string): Evidence => ({ kind: "step", machine, phase: name as Evidence["phase"], name, status, ...(message ? { message } : {}) });

/** A patch verified on `machines`: every required result present and passing, unless `edit` says otherwise. */
function healthy(machines = ["web"], opts: { restart?: boolean } = {}): PatchInput & { evidence: Evidence[] } {
  const required = machines.flatMap((m) => requiredOn(m, { phases: ALL_PHASES, suites: ["roles/web"], restart: !!opts.restart }));
  const evidence: Evidence[] = machines.flatMap((m) => [
    step(m, "install"),
    step(m, "restart"),
    step(m, "idempotence"),
    step(m, "uninstall"),
    { kind: "step" as const, machine: m, phase: "uninstall" as const, name: "residue", status: "passed" as const },
    step(m, "restore"),
    step(m, "pipeline"),
    suite(m, "baseline", pass()),
    suite(m, "post-install", pass()),
    suite(m, "post-uninstall", pass()),
  ]);
  return { patch: "nginx-1.22.1-9+deb12u2", payload: [{ package: "nginx", version: "1.22.1-9+deb12u2" }], required, evidence };
}

const without = (p: ReturnType<typeof healthy>, pred: (e: Evidence) => boolean) => ({ ...p, evidence: p.evidence.filter((e) => !pred(e)) });
const replace = (p: ReturnType<typeof healthy>, pred: (e: Evidence) => boolean, e: Evidence) => ({ ...p, evidence: [...p.evidence.filter((x) => !pred(x)), e] });
const isSuite = (m: string, phase: string) => (e: Evidence) => e.kind === "suite" && e.machine === m && e.phase === phase;
const isStep = (m: string, name: string) => (e: Evidence) => e.kind === "step" && e.machine === m && e.name === name;

const waiver = (over: Partial<Waiver> = {}): Waiver => ({ check: HOME, reason: "home page change accepted by the web team (CHG-1)", approver: "Jane Doe", expires: "2026-12-31", ...over });

const gate = (patches: PatchInput[], waivers: Waiver[] = []) => decide({ today: TODAY, waivers, patches } satisfies GateInput);

interface Case {
  name: string;
  patch: () => PatchInput;
  waivers?: Waiver[];
  verdict: "approved" | "rejected" | "needs-review" | "not-applicable";
  exit: 0 | 1 | 2;
  /** An outcome and rule the decision must contain. */
  expect?: { outcome: Outcome; rule?: string; machine?: string; phase?: string };
}

const CASES: Case[] = [
  { name: "all passed", patch: () => healthy(), verdict: "approved", exit: 0 },
  {
    name: "a regression (passed in baseline, fails after install)",
    patch: () => replace(healthy(), isSuite("web", "post-install"), suite("web", "post-install", [t(HOME, "failed", { message: "status 500" }), t(HEALTH, "passed")])),
    verdict: "rejected", exit: 1, expect: { outcome: "failed", rule: "regression", phase: "post-install" },
  },
  {
    name: "a required suite absent on one of several target machines",
    patch: () => without(healthy(["web", "web2", "web3"]), isSuite("web2", "post-install")),
    verdict: "needs-review", exit: 2, expect: { outcome: "missing", rule: "no-result", machine: "web2", phase: "post-install" },
  },
  {
    name: "a check skipped after passing in baseline",
    patch: () => replace(healthy(), isSuite("web", "post-install"), suite("web", "post-install", [t(HOME, "skipped"), t(HEALTH, "passed")])),
    verdict: "needs-review", exit: 2, expect: { outcome: "missing", rule: "skipped-after-passing" },
  },
  {
    name: "a suite with zero passed checks after install",
    patch: () => {
      const p = healthy();
      const base = suite("web", "baseline", [t(HOME, "failed"), t(HEALTH, "failed")]);
      return replace(replace(p, isSuite("web", "baseline"), base), isSuite("web", "post-install"), suite("web", "post-install", [t(HOME, "failed"), t(HEALTH, "failed")]));
    },
    verdict: "needs-review", exit: 2, expect: { outcome: "missing", rule: "no-result", phase: "post-install" },
  },
  {
    name: "a broken restart (post-install results after it are not evidence)",
    patch: () => replace(healthy(["web"], { restart: true }), isStep("web", "restart"), step("web", "restart", "broken", "engine lost the container")),
    verdict: "needs-review", exit: 2, expect: { outcome: "missing", rule: "not-evidence", phase: "post-install" },
  },
  {
    name: "a broken final restore (not exact)",
    patch: () => replace(healthy(), isStep("web", "restore"), step("web", "restore", "broken", "restore not exact: file /etc/x: added")),
    verdict: "needs-review", exit: 2, expect: { outcome: "broken", phase: "restore" },
  },
  {
    name: "an aborted pipeline",
    patch: () => replace(without(healthy(), isSuite("web", "post-uninstall")), isStep("web", "pipeline"), step("web", "pipeline", "broken", "pipeline aborted: engine unreachable")),
    verdict: "needs-review", exit: 2, expect: { outcome: "broken", phase: "pipeline" },
  },
  {
    name: "broken, then passing on the retry",
    patch: () => replace(healthy(), isSuite("web", "post-install"), suite("web", "post-install", [t(HOME, "passed", { attempts: [{ status: "broken", message: "client exec failed" }] }), t(HEALTH, "passed")])),
    verdict: "approved", exit: 0,
  },
  {
    name: "broken every time",
    patch: () => replace(healthy(), isSuite("web", "post-install"), suite("web", "post-install", [t(HOME, "broken", { attempts: [{ status: "broken" }] }), t(HEALTH, "passed")])),
    verdict: "needs-review", exit: 2, expect: { outcome: "broken", rule: "broken" },
  },
  {
    name: "flaky (failed, then passed on the retry)",
    patch: () => replace(healthy(), isSuite("web", "post-install"), suite("web", "post-install", [t(HOME, "passed", { attempts: [{ status: "failed", message: "status 502" }] }), t(HEALTH, "passed")])),
    verdict: "approved", exit: 0, expect: { outcome: "flaky", rule: "flaky" },
  },
  {
    name: "waived",
    patch: () => replace(healthy(), isSuite("web", "post-install"), suite("web", "post-install", [t(HOME, "failed", { message: "status 500" }), t(HEALTH, "passed")])),
    waivers: [waiver()],
    verdict: "approved", exit: 0, expect: { outcome: "waived", rule: "waived" },
  },
  {
    name: "an expired waiver does not apply",
    patch: () => replace(healthy(), isSuite("web", "post-install"), suite("web", "post-install", [t(HOME, "failed", { message: "status 500" }), t(HEALTH, "passed")])),
    waivers: [waiver({ expires: "2026-11-26" })],
    verdict: "rejected", exit: 1, expect: { outcome: "failed", rule: "regression" },
  },
  {
    name: "a pre-existing failure",
    patch: () => {
      const failing = () => [t(HOME, "passed"), t(HEALTH, "failed", { message: "404" })];
      let p = healthy();
      for (const ph of ["baseline", "post-install", "post-uninstall"]) p = replace(p, isSuite("web", ph), suite("web", ph as Evidence["phase"], failing()));
      return p;
    },
    verdict: "approved", exit: 0, expect: { outcome: "pre-existing" },
  },
  {
    name: "not applicable",
    patch: () => ({ patch: "libfoo-2", applicable: false, notApplicableReason: "no lab machine has libfoo installed", required: [], evidence: [] }),
    verdict: "not-applicable", exit: 2,
  },
  {
    name: "a failed install",
    patch: () => replace(without(healthy(), (e) => e.phase === "post-install" || e.phase === "uninstall" || e.phase === "post-uninstall"), isStep("web", "install"), step("web", "install", "failed", "dpkg: error processing package nginx (--configure)")),
    verdict: "rejected", exit: 1, expect: { outcome: "failed", rule: "failed", phase: "install" },
  },
  {
    name: "a failed uninstall",
    patch: () => replace(without(healthy(), isSuite("web", "post-uninstall")), isStep("web", "uninstall"), step("web", "uninstall", "failed", "prerm failed")),
    verdict: "rejected", exit: 1, expect: { outcome: "failed", phase: "uninstall" },
  },
  {
    name: "a failure with no baseline to compare with",
    patch: () => replace(without(healthy(), isSuite("web", "baseline")), isSuite("web", "post-install"), suite("web", "post-install", [t(HOME, "failed"), t(HEALTH, "passed")])),
    verdict: "needs-review", exit: 2, expect: { outcome: "missing", rule: "no-baseline" },
  },
  {
    name: "a crashed suite",
    patch: () => replace(healthy(), isSuite("web", "post-install"), suite("web", "post-install", [t(HOME, "passed")], true)),
    verdict: "needs-review", exit: 2, expect: { outcome: "broken", phase: "post-install" },
  },
  {
    name: "a check that vanished from a finished suite",
    patch: () => replace(healthy(), isSuite("web", "post-install"), suite("web", "post-install", [t(HOME, "passed")])),
    verdict: "needs-review", exit: 2, expect: { outcome: "missing", rule: "no-result" },
  },
  {
    name: "nothing required",
    patch: () => ({ patch: "x", required: [], evidence: [] }),
    verdict: "needs-review", exit: 2, expect: { outcome: "missing" },
  },
  {
    name: "a regression outweighs broken and missing results",
    patch: () => replace(without(healthy(), isSuite("web", "post-uninstall")), isSuite("web", "post-install"), suite("web", "post-install", [t(HOME, "failed"), t(HEALTH, "broken")])),
    verdict: "rejected", exit: 1,
  },
];

describe("gate.decide over a table of result sets", () => {
  for (const c of CASES) {
    it(`${c.name}: ${c.verdict} (exit ${c.exit})`, () => {
      const d = gate([c.patch()], c.waivers);
      expect(d.patches[0]!.verdict, JSON.stringify(d.patches[0]!.reasons, null, 1)).to.equal(c.verdict);
      expect(d.exitCode).to.equal(c.exit);
      if (c.expect) {
        const want = c.expect;
        const hit = d.patches[0]!.reasons.find((r) => r.outcome === want.outcome && (!want.rule || r.rule === want.rule) && (!want.machine || r.machine === want.machine) && (!want.phase || r.phase === want.phase));
        expect(hit, `no ${JSON.stringify(want)} in ${JSON.stringify(d.patches[0]!.reasons, null, 1)}`).to.not.equal(undefined);
        expect(hit!.effect).to.equal(VOCABULARY[want.outcome].effect);
      }
    });
  }
});

describe("gate.decide", () => {
  it("names a waived failure's waiver, and an expired one as expired (not applied)", () => {
    const failing = replace(healthy(), isSuite("web", "post-install"), suite("web", "post-install", [t(HOME, "failed"), t(HEALTH, "passed")]));
    const waived = gate([failing], [waiver({ id: "W-1" })]).patches[0]!.reasons.find((r) => r.outcome === "waived")!;
    expect(waived.waiver).to.include({ id: "W-1", approver: "Jane Doe", expires: "2026-12-31" });
    const d = gate([failing], [waiver({ id: "W-0", expires: "2026-01-01" })]);
    const r = d.patches[0]!.reasons.find((x) => x.outcome === "failed")!;
    expect(r.expiredWaivers).to.deep.equal([{ id: "W-0", reason: waiver().reason, approver: "Jane Doe", expires: "2026-01-01" }]);
    expect(d.summary).to.contain("expired W-0 on 2026-01-01: not applied");
  });

  it("a waiver applies only to what it names (another patch or machine is not waived)", () => {
    const failing = replace(healthy(), isSuite("web", "post-install"), suite("web", "post-install", [t(HOME, "failed"), t(HEALTH, "passed")]));
    expect(gate([failing], [waiver({ patch: "another-patch" })]).verdict).to.equal("rejected");
    expect(gate([failing], [waiver({ machine: "db" })]).verdict).to.equal("rejected");
    expect(gate([failing], [waiver({ check: "web role > *", machine: "web" })]).verdict).to.equal("approved");
  });

  it("a waiver never turns a missing or broken result into an approval", () => {
    const missing = without(healthy(), isSuite("web", "post-install"));
    expect(gate([missing], [waiver({ check: "*", machine: "web" })]).verdict).to.equal("needs-review");
  });

  it("decides each patch on its own; the run's verdict is the worst; not-applicable patches do not count", () => {
    const good = { ...healthy(), patch: "tzdata" };
    const bad = { ...replace(healthy(), isSuite("web", "post-install"), suite("web", "post-install", [t(HOME, "failed"), t(HEALTH, "passed")])), patch: "nginx" };
    const undecided = { ...without(healthy(), isSuite("web", "post-install")), patch: "curl" };
    const na: PatchInput = { patch: "libfoo", applicable: false, required: [], evidence: [] };
    const d = gate([good, bad, undecided, na]);
    expect(d.patches.map((p) => [p.patch, p.verdict])).to.deep.equal([["tzdata", "approved"], ["nginx", "rejected"], ["curl", "needs-review"], ["libfoo", "not-applicable"]]);
    expect(d.verdict).to.equal("rejected");
    expect(gate([good, undecided]).exitCode).to.equal(2);
    expect(gate([good, na]).verdict).to.equal("approved");
    expect(gate([na]).verdict, "nothing verified is never approved").to.equal("needs-review");
    expect(gate([]).verdict).to.equal("needs-review");
  });

  it("records the exact tested set: payloads of approved patches only, and what was tested together", () => {
    const a = { ...healthy(), patch: "a", payload: [{ package: "nginx", version: "1.2", sha256: "a".repeat(64) }], testedWith: ["b"] };
    const b = { ...replace(healthy(), isSuite("web", "post-install"), suite("web", "post-install", [t(HOME, "failed"), t(HEALTH, "passed")])), patch: "b", payload: [{ package: "openssl", version: "3.0" }] };
    const d = gate([a, b]);
    expect(d.approvedSet).to.deep.equal([{ package: "nginx", version: "1.2", sha256: "a".repeat(64) }]);
    expect(d.patches[0]!.testedWith).to.deep.equal(["b"]);
  });

  it("a watcher finding that rejects by policy rejects; others are notes; a broken watcher is undecided", () => {
    const p = healthy();
    p.required.push({ machine: "web", phase: "post-install", kind: "watch", name: "logs" });
    const finding = (rejects: boolean) => ({ kind: "watch" as const, machine: "web", phase: "post-install" as const, name: "logs", status: "passed" as const, findings: [{ title: "new error signature: upstream timed out", severity: "error" as const, rejects }] });
    expect(gate([{ ...p, evidence: [...p.evidence, finding(true)] }]).verdict).to.equal("rejected");
    const noted = gate([{ ...p, evidence: [...p.evidence, finding(false)] }]);
    expect(noted.verdict).to.equal("approved");
    expect(noted.patches[0]!.notes[0]).to.contain("upstream timed out");
    expect(gate([{ ...p, evidence: [...p.evidence, { ...finding(false), status: "broken" as const, findings: [] }] }]).verdict).to.equal("needs-review");
    expect(gate([p]).verdict, "a required watcher without a result").to.equal("needs-review");
  });

  it("says in one line per patch what was required and what failed", () => {
    const bad = replace(healthy(), isSuite("web", "post-install"), suite("web", "post-install", [t(HOME, "failed", { message: "GET http://web.lab.test/ : status 500" }), t(HEALTH, "passed")]));
    expect(gate([bad]).summary).to.contain(`1 failed: web/post-install: ${HOME} (GET http://web.lab.test/ : status 500`);
  });

  it("rejects input that does not match the gate input schema (unknown key)", () => {
    expect(() => decide({ today: TODAY, patches: [{ ...healthy(), extra: 1 }] } as unknown as GateInput)).to.throw();
  });

  it("is pure: the same input gives the same decision, and the input is untouched", () => {
    const input: GateInput = { today: TODAY, patches: [replace(healthy(), isSuite("web", "post-install"), suite("web", "post-install", [t(HOME, "failed"), t(HEALTH, "passed")]))] };
    const copy = structuredClone(input);
    expect(decide(input)).to.deep.equal(decide(input));
    expect(input).to.deep.equal(copy);
  });

  it("keeps its rules a small ordered table whose every outcome is in the vocabulary", () => {
    for (const r of RULES) if (r.outcome !== "ignored") expect(Outcome.options).to.include(r.outcome);
    expect(RULES.at(-1)!.when({ status: "failed", attempts: [], phase: "install", compared: false, waived: false })).to.equal(true);
    expect(new Set(RULES.map((r) => r.rule)).size).to.equal(RULES.length);
  });
});
