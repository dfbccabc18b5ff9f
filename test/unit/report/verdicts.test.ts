import { expect } from "chai";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { DecisionView } from "../../../harness/report/decision-view.ts";
import { markFlakyRetries, markFromDecision, normalizeLabels, reportTitle, stageResults } from "../../../harness/report/stage.ts";
import { suiteLabels, suiteParameters } from "../../../harness/report/labels.ts";
import { writeLifecycleResult } from "../../../harness/report/lifecycle.ts";
import { writeVerdictResults } from "../../../harness/report/verdicts.ts";
import { loadResults, type ResultFile } from "../../../harness/report/result-files.ts";
import { writeAllureResult } from "../../../harness/report/lifecycle.ts";
import { runSuite } from "../../../harness/run/mocha-runner.ts";

type R = ResultFile & { steps: { name: string; status: string; statusDetails?: { message?: string } }[]; description?: string; attachments: { name: string; source: string }[] };

// Reasons as gate.json (v2) words them: outcome (the vocabulary), the rule that decided, the evidence kind.
const regression = { outcome: "failed", effect: "rejects", rule: "regression", kind: "suite", phase: "post-install", machine: "web", suite: "web", check: "web role > web serves its home page over HTTP", baseline: "passed", message: "GET http://web.lab.test/ : status: expected 502 to equal 200" };
const preExisting = { outcome: "pre-existing", effect: "none", rule: "failing-before-too", kind: "suite", phase: "post-install", machine: "web", suite: "web", check: "web role > web's certificate is valid for more than 7 more days", baseline: "failed", message: "expires in 3 days" };
const broken = { outcome: "broken", effect: "undecided", rule: "broken", kind: "suite", phase: "post-install", machine: "db", suite: "db", check: "db role > db accepts a connection", message: "client container is not running" };
const counts = (o: Partial<Record<string, number>>) => ({ required: 12, checks: 9, passed: 9, failed: 0, broken: 0, missing: 0, preExisting: 0, flaky: 0, waived: 0, skipped: 0, ...o });

/** A gate.json as the gate writes it (extra fields the report does not read must not bother it). */
const decision = DecisionView.parse({
  schemaVersion: 2,
  verdict: "rejected",
  exitCode: 1,
  summary: "Verdict: rejected (exit 1). Patches: 1 rejected, 1 needs-review, 1 approved.",
  patches: [
    { patch: "PL-DEMO-0001", verdict: "approved", reasons: [], notes: [], counts: counts({}), payload: [], testedWith: [] },
    { patch: "PL-DEMO-0002", verdict: "rejected", reasons: [preExisting, regression], notes: ["watcher tls: certificate expires in 3 days (warning)"], counts: counts({ passed: 7, failed: 1, preExisting: 1 }), payload: [], testedWith: [] },
    { patch: "DSA-5678-1", verdict: "needs-review", reasons: [broken], notes: [], counts: counts({ passed: 8, broken: 1 }), payload: [{ package: "nginx", version: "1.22.1-9+deb12u2" }], testedWith: [] },
  ],
  approvedSet: [],
  run: {
    id: "20261127-064334-demo-0142",
    batch: "demo",
    lab: "reference",
    decidedAt: "2026-11-27T06:44:00.000Z",
    patches: [
      { id: "PL-DEMO-0001", title: "nginx: send security headers", severity: "moderate" },
      { id: "PL-DEMO-0002", title: "nginx: tune worker connections", severity: "important" },
      { id: "DSA-5678-1", title: "nginx security update", severity: "critical", advisory: "https://www.debian.org/security/2024/dsa-5678", cves: ["CVE-2024-1111"] },
    ],
  },
});

describe("report: the gate's decision as Allure results", () => {
  let dir: string;
  const results = () => loadResults(dir).map((r) => r.result as R);
  const byPatch = (id: string) => results().find((r) => r.labels?.some((l) => l.name === "patch" && l.value === id))!;
  const label = (r: ResultFile, n: string) => (r.labels ?? []).filter((l) => l.name === n).map((l) => l.value);
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "patchlab-verdicts-"));
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it("one result per patch: passed = approved, failed = rejected, broken = needs review", () => {
    writeVerdictResults(dir, decision, { batch: "demo" });
    expect(results()).to.have.length(3);
    expect(byPatch("PL-DEMO-0001")).to.include({ status: "passed", name: "APPROVED: PL-DEMO-0001 nginx: send security headers" });
    expect(byPatch("PL-DEMO-0002")).to.include({ status: "failed", name: "REJECTED: PL-DEMO-0002 nginx: tune worker connections" });
    expect(byPatch("DSA-5678-1")).to.include({ status: "broken", name: "NEEDS REVIEW: DSA-5678-1 nginx security update" });
  });

  it("sits at the top of its patch's feature (story '0 gate decision'), under the batch's epic", () => {
    writeVerdictResults(dir, decision, { batch: "demo" });
    const r = byPatch("PL-DEMO-0002");
    expect(label(r, "epic")).to.deep.equal(["demo"]);
    expect(label(r, "feature")).to.deep.equal(["PL-DEMO-0002"]);
    expect(label(r, "story")).to.deep.equal(["0 gate decision"]);
    expect(label(r, "parentSuite")).to.deep.equal(["PL-DEMO-0002"]);
    expect(label(r, "severity")).to.deep.equal(["critical"]);
    expect(label(r, "tag")).to.deep.equal(["verdict: rejected"]);
  });

  it("states the verdict and the blocking reasons in its message; every reason is a step, colored by its effect", () => {
    writeVerdictResults(dir, decision, { batch: "demo" });
    const r = byPatch("PL-DEMO-0002");
    expect(r.statusDetails?.message).to.equal(
      "Gate: rejected (7/9 checks passed; 1 pre-existing (failing-before-too), 1 regression)\n" +
        "- regression: web role > web serves its home page over HTTP [web/post-install]: GET http://web.lab.test/ : status: expected 502 to equal 200",
    );
    expect(r.steps.map((s) => [s.status, s.name])).to.deep.equal([
      ["failed", "rejects · regression: web role > web serves its home page over HTTP [web/post-install]"],
      ["skipped", "not blocking · pre-existing (failing-before-too): web role > web's certificate is valid for more than 7 more days [web/post-install]"],
    ]);
    expect(r.description).to.contain("9 checks judged (12 required results): 7 passed, 1 failed, 1 pre-existing, 0 flaky, 0 waived, 0 broken, 0 missing, 0 skipped.");
    expect(r.description).to.contain("- watcher tls: certificate expires in 3 days (warning)");
    expect(byPatch("DSA-5678-1").steps.map((s) => s.status)).to.deep.equal(["broken"]);
    expect(byPatch("PL-DEMO-0001").steps.map((s) => [s.status, s.name])).to.deep.equal([["passed", "every required check passed (9/9 checks passed)"]]);
  });

  it("links the advisory and CVEs, and attaches the patch's decision as JSON", () => {
    writeVerdictResults(dir, decision, { batch: "demo" });
    const r = byPatch("DSA-5678-1");
    expect(r.links?.map((l) => l.url)).to.deep.equal(["https://www.debian.org/security/2024/dsa-5678", "https://security-tracker.debian.org/tracker/CVE-2024-1111"]);
    const json = JSON.parse(fs.readFileSync(path.join(dir, r.attachments[0]!.source), "utf8"));
    expect(json).to.include({ patch: "DSA-5678-1", verdict: "needs-review" });
  });

  it("keeps one history per batch and patch across runs (same historyId), another for another batch", () => {
    writeVerdictResults(dir, decision, { batch: "demo" });
    const first = byPatch("PL-DEMO-0001").historyId;
    fs.rmSync(dir, { recursive: true });
    writeVerdictResults(dir, { ...decision, run: { ...decision.run!, decidedAt: "2026-12-27T06:44:00.000Z" } }, { batch: "demo" });
    expect(byPatch("PL-DEMO-0001").historyId).to.equal(first);
    fs.rmSync(dir, { recursive: true });
    writeVerdictResults(dir, decision, { batch: "other" });
    expect(byPatch("PL-DEMO-0001").historyId).to.not.equal(first);
  });

  it("a run that decided no patch says so in one needs-review result", () => {
    writeVerdictResults(dir, DecisionView.parse({ verdict: "needs-review", summary: "Run could not complete: no Docker engine answers", patches: [] }), { batch: "demo" });
    const [r] = results();
    expect(r).to.include({ status: "broken", name: "NEEDS REVIEW: no patch was decided" });
    expect(r!.statusDetails?.message).to.contain("no Docker engine answers");
  });

  it("still reads a gate.json of schema 1 (reasons named by kind)", () => {
    const v1 = DecisionView.parse({ schemaVersion: 1, verdict: "rejected", summary: "", patches: [{ patch: "FIX-BAD", verdict: "rejected", reasons: [{ kind: "regression", effect: "rejects", phase: "post-install", machine: "web", check: "web role > web serves its home page over HTTP", outcome: "failed", message: "no HTTP response" }], counts: { checks: 21, passed: 7 } }] });
    writeVerdictResults(dir, v1, { batch: "fix-bad" });
    expect(byPatch("FIX-BAD").statusDetails?.message).to.equal("Gate: rejected (7/21 checks passed; 1 regression)\n- regression: web role > web serves its home page over HTTP [web/post-install]: no HTTP response");
  });

  it("a not-applicable patch is skipped, with its notes", () => {
    writeVerdictResults(dir, DecisionView.parse({ summary: "", patches: [{ patch: "DSA-1-1", verdict: "not-applicable", reasons: [], notes: ["no lab machine has openssh-server"], counts: {} }] }), { batch: "b" });
    expect(byPatch("DSA-1-1")).to.include({ status: "skipped", name: "NOT APPLICABLE: DSA-1-1" });
    expect(byPatch("DSA-1-1").description).to.contain("no lab machine has openssh-server");
  });

  it("reportTitle puts the verdicts first", () => {
    expect(reportTitle("demo", decision)).to.equal("patchlab: demo: 1 rejected, 1 needs review, 1 approved");
    expect(reportTitle("demo", undefined)).to.equal("patchlab: demo (no gate decision)");
  });
});

describe("report: staging a run's results for the report", () => {
  let root: string;
  let results: string;
  let stage: string;
  const check = (name: string, phase: string, status: "passed" | "failed" | "broken", patch: string, message?: string, start = 1000) =>
    writeAllureResult(results, {
      name,
      fullName: `patchlab:suites/roles/web.spec.ts: web role > ${name}`,
      status,
      ...(message ? { message } : {}),
      start,
      stop: start + 10,
      labels: { phase, machine: "web", patch, feature: patch, patchlabKind: "check" },
      parameters: { phase, machine: "web", patch },
    });
  const staged = () => loadResults(stage).map((r) => r.result);
  const find = (name: string, phase: string) => staged().find((r) => r.name === name && r.labels?.some((l) => l.name === "phase" && l.value === phase))!;
  beforeEach(() => {
    root = fs.mkdtempSync(path.join(os.tmpdir(), "patchlab-stage-"));
    results = path.join(root, "allure-results");
    stage = path.join(root, "stage");
    fs.mkdirSync(results);
  });
  afterEach(() => fs.rmSync(root, { recursive: true, force: true }));

  it("leaves the run's own results untouched and drops verdicts an older gate.json wrote", () => {
    check("web serves its home page over HTTP", "post-install", "failed", "PL-DEMO-0002", regression.message);
    writeVerdictResults(results, { ...decision, patches: [{ ...decision.patches[1]!, verdict: "approved" }] }, { batch: "demo" });
    const before = fs.readdirSync(results).sort().map((f) => fs.readFileSync(path.join(results, f), "utf8"));
    stageResults({ resultsDir: results, stageDir: stage, batch: "demo", decision });
    expect(fs.readdirSync(results).sort().map((f) => fs.readFileSync(path.join(results, f), "utf8"))).to.deep.equal(before);
    const verdicts = staged().filter((r) => r.labels?.some((l) => l.name === "patchlabKind" && l.value === "verdict"));
    expect(verdicts.map((r) => r.status).sort()).to.deep.equal(["broken", "failed", "passed"]);
  });

  it("marks a pre-existing failure and a baseline failure so they are not counted as regressions", () => {
    check("web's certificate is valid for more than 7 more days", "baseline", "failed", "PL-DEMO-0001,PL-DEMO-0002", "expires in 3 days");
    check("web's certificate is valid for more than 7 more days", "post-install", "failed", "PL-DEMO-0002", "expires in 3 days");
    check("web serves its home page over HTTP", "post-install", "failed", "PL-DEMO-0002", regression.message);
    stageResults({ resultsDir: results, stageDir: stage, batch: "demo", decision });
    expect(find("web's certificate is valid for more than 7 more days", "post-install").statusDetails?.message).to.equal("PRE-EXISTING (failed in baseline too, not blocking): expires in 3 days");
    expect(find("web's certificate is valid for more than 7 more days", "baseline").statusDetails?.message).to.equal("PRE-EXISTING (failed in baseline, before any patch): expires in 3 days");
    expect(find("web serves its home page over HTTP", "post-install").statusDetails?.message).to.equal(regression.message);
  });

  it("marks a waived failure with the waiver's reason, approver and expiry; an expired waiver marks nothing", () => {
    check("web serves its home page over HTTP", "post-install", "failed", "PL-DEMO-0002", "status 502");
    check("web sends a Server header", "post-install", "failed", "PL-DEMO-0002", "no Server header");
    const waived = { ...regression, outcome: "waived", rule: "waived", effect: "none", waiver: { id: "W-7", reason: "upstream bug 1234", approver: "alice", expires: "2026-12-31" } };
    const expired = { ...regression, check: "web role > web sends a Server header", expiredWaivers: [{ id: "W-1", reason: "old", approver: "bob", expires: "2026-01-31" }] };
    stageResults({ resultsDir: results, stageDir: stage, batch: "demo", decision: DecisionView.parse({ summary: "", patches: [{ patch: "PL-DEMO-0002", verdict: "rejected", reasons: [waived, expired], counts: {} }] }) });
    expect(find("web serves its home page over HTTP", "post-install").statusDetails?.message).to.equal("WAIVED (upstream bug 1234; approved by alice; until 2026-12-31): status 502");
    // Still a regression (no WAIVED mark), saying which waiver no longer applies.
    expect(find("web sends a Server header", "post-install").statusDetails?.message).to.equal("(waiver W-1 expired, not applied (old; approved by bob; expired 2026-01-31)) no Server header");
  });

  it("staging twice does not mark twice", () => {
    check("web's certificate is valid for more than 7 more days", "post-install", "failed", "PL-DEMO-0002", "expires in 3 days");
    const loaded = loadResults(results);
    markFromDecision(loaded, decision);
    markFromDecision(loaded, decision);
    expect(loaded[0]!.result.statusDetails?.message).to.equal("PRE-EXISTING (failed in baseline too, not blocking): expires in 3 days");
  });

  it("a check that failed, then passed on retry is flaky; failed twice, or passed the first time, is not", () => {
    check("flaps", "post-install", "failed", "p", "timeout", 1000);
    check("flaps", "post-install", "passed", "p", undefined, 2000);
    check("fails twice", "post-install", "failed", "p", "x", 1000);
    check("fails twice", "post-install", "failed", "p", "x", 2000);
    check("steady", "post-install", "passed", "p", undefined, 1000);
    const loaded = loadResults(results);
    markFlakyRetries(loaded);
    const flaky = loaded.filter((r) => r.result.statusDetails?.flaky).map((r) => [r.result.name, r.result.status]);
    expect(flaky).to.deep.equal([["flaps", "passed"]]);
  });

  it("a check mocha retried (allure-mocha writes one result per attempt) is flaky in the report", async function () {
    this.timeout(60_000);
    const spec = path.join(root, "retry.spec.ts");
    fs.writeFileSync(spec, `let n = 0; describe("web role", function () { this.retries(1); it("flaps", () => { if (++n === 1) throw Object.assign(new Error("timeout"), { name: "AssertionError" }); }); });`);
    const context = { runId: "r", phase: "post-install" as const, patches: ["p"], lab: { name: "l", domain: "lab.test", subnet: "172.30.77.0/24" }, target: { name: "web", container: "c", ip: "172.30.77.10", fqdn: "web.lab.test", roles: ["web" as const] }, machines: {}, client: { name: "client", container: "cc" }, caCertPath: "/tmp/ca.pem" };
    await runSuite({ suite: spec, context, resultsDir: results, junitFile: path.join(root, "j.xml"), timeoutMs: 30_000, labels: {} });
    stageResults({ resultsDir: results, stageDir: stage, batch: "demo" });
    expect(staged().map((r) => [r.status, !!r.statusDetails?.flaky]).sort()).to.deep.equal([["failed", false], ["passed", true]]);
  });

  it("results written without runLabels() (today's orchestrator, older runs) still group by batch > patch > phase", () => {
    const context = { runId: "r", phase: "baseline" as const, patches: ["PL-DEMO-0001", "PL-DEMO-0002"], lab: { name: "reference", domain: "lab.test", subnet: "172.30.77.0/24" }, target: { name: "web", container: "c", ip: "172.30.77.10", fqdn: "web.lab.test", roles: ["web" as const] }, machines: {}, client: { name: "client", container: "cc" }, caCertPath: "/tmp/ca.pem" };
    writeAllureResult(results, { name: "web serves its home page over HTTP", fullName: "x: web role > web serves its home page over HTTP", status: "passed", start: 1, stop: 2, labels: suiteLabels(context, "web"), parameters: suiteParameters(context) });
    writeLifecycleResult(results, { step: "pipeline", machine: "web", status: "passed", message: "finished", start: 1, stop: 2 });
    writeLifecycleResult(results, { step: "install", patch: "PL-DEMO-0002", machine: "web", status: "passed", message: "installed", start: 1, stop: 2 });
    const loaded = loadResults(results);
    normalizeLabels(loaded, "demo", [{ id: "PL-DEMO-0001", severity: "moderate" }, { id: "PL-DEMO-0002", severity: "important" }]);
    const by = (name: string) => loaded.find((r) => r.result.name === name)!.result;
    const label = (r: ResultFile, n: string) => (r.labels ?? []).filter((l) => l.name === n).map((l) => l.value);
    for (const r of [by("web serves its home page over HTTP"), by("pipeline")]) {
      expect(label(r, "epic")).to.deep.equal(["demo"]);
      expect(label(r, "feature")).to.deep.equal(["PL-DEMO-0001", "PL-DEMO-0002"]);
      expect(label(r, "parentSuite")).to.deep.equal(["PL-DEMO-0001", "PL-DEMO-0002"]);
      expect(label(r, "severity")).to.deep.equal(["critical"]);
    }
    expect(label(by("web serves its home page over HTTP"), "story")).to.deep.equal(["1 baseline"]);
    expect(label(by("pipeline"), "story")).to.deep.equal(["9.1 pipeline"]);
    expect(label(by("install PL-DEMO-0002"), "feature")).to.deep.equal(["PL-DEMO-0002"]);
    expect(label(by("install PL-DEMO-0002"), "severity")).to.deep.equal(["critical"]);
  });

  it("the executor gets the report's title and a build order when it has none; a CI's build order stays", () => {
    fs.writeFileSync(path.join(results, "executor.json"), JSON.stringify({ name: "patchlab", type: "patchlab" }));
    stageResults({ resultsDir: results, stageDir: stage, batch: "demo", decision, buildOrder: 5 });
    expect(JSON.parse(fs.readFileSync(path.join(stage, "executor.json"), "utf8"))).to.include({ buildOrder: 5, reportName: "patchlab: demo: 1 rejected, 1 needs review, 1 approved" });
    fs.writeFileSync(path.join(results, "executor.json"), JSON.stringify({ name: "GitHub Actions", buildOrder: 42 }));
    stageResults({ resultsDir: results, stageDir: stage, batch: "demo", decision, buildOrder: 5 });
    expect(JSON.parse(fs.readFileSync(path.join(stage, "executor.json"), "utf8"))).to.include({ buildOrder: 42 });
  });
});
