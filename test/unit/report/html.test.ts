import { expect } from "chai";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { LabError } from "../../../harness/core/errors.ts";
import { writeAllureExtras, resultsDirOf, MARK } from "../../../harness/report/allure-extras.ts";
import { buildHtmlReport, generateHtmlReport } from "../../../harness/report/html.ts";
import { writeAllureResult, writeLifecycleResult } from "../../../harness/report/lifecycle.ts";
import { writeGateJson } from "../../../harness/report/gate-json.ts";
import type { Decision } from "../../../harness/gate/schema.ts";

/** A gate.json for one patch "p" (what the gate writes; see harness/gate/schema.ts). */
function decisionOf(id: string, batch: string, verdict: "approved" | "rejected"): Decision {
  const ok = verdict === "approved";
  return {
    schemaVersion: 2,
    verdict,
    exitCode: ok ? 0 : 1,
    summary: "",
    patches: [{ patch: "p", title: "a patch", severity: "moderate", verdict, reasons: [], notes: [], counts: { required: 1, checks: 1, passed: ok ? 1 : 0, failed: ok ? 0 : 1, broken: 0, missing: 0, preExisting: 0, flaky: 0, waived: 0, skipped: 0 }, payload: [], testedWith: [] }],
    approvedSet: [],
    run: { id, batch, lab: "reference", decidedAt: "2026-11-27T06:44:00.000Z", patches: [{ id: "p", title: "a patch", severity: "moderate" }] },
  };
}

describe("report: HTML report (allure-commandline, needs java)", function () {
  this.timeout(120_000);
  let root: string;
  let saved: string | undefined;
  const trendOf = (report: string) =>
    (JSON.parse(fs.readFileSync(path.join(report, "history", "history-trend.json"), "utf8")) as { buildOrder: number }[]).map((t) => t.buildOrder);
  /** A run of batch `batch` whose install step has `status`, with a gate decision. */
  const makeRun = (root: string, id: string, batch: string, status: "passed" | "failed") => {
    const run = path.join(root, id);
    const results = resultsDirOf(run);
    writeAllureExtras(run, { runId: id, lab: "reference", batch }, {});
    writeLifecycleResult(results, { phase: "install", patch: "p", machine: "web", status, message: status === "failed" ? "dpkg: error processing package p" : "p installed", start: 1000, stop: 1500 });
    writeGateJson(run, decisionOf(id, batch, status === "passed" ? "approved" : "rejected"));
    return run;
  };
  before(() => {
    root = fs.mkdtempSync(path.join(os.tmpdir(), "patchlab-html-"));
    saved = process.env.PATCHLAB_REPORTS_DIR;
    process.env.PATCHLAB_REPORTS_DIR = path.join(root, "reports");
  });
  after(() => {
    if (saved === undefined) delete process.env.PATCHLAB_REPORTS_DIR;
    else process.env.PATCHLAB_REPORTS_DIR = saved;
    fs.rmSync(root, { recursive: true, force: true });
  });

  it("generates <run>/allure-report titled with the verdicts, with no tracker or other outside address in the page", async () => {
    const run = makeRun(path.join(root, "reports"), "20261101-000000-demo-a", "demo", "passed");
    const r = await buildHtmlReport(run);
    expect(r.dir).to.equal(path.join(run, "allure-report"));
    expect(r.reportName).to.equal("patchlab: demo: 1 approved");
    const html = fs.readFileSync(r.index, "utf8");
    expect(html).to.not.match(/googletagmanager|google-analytics|<script[^>]+src="https?:/);
    expect(JSON.parse(fs.readFileSync(path.join(r.dir, "widgets", "summary.json"), "utf8")).reportName).to.equal("patchlab: demo: 1 approved");
  });

  it("continues its batch's trend (build orders 1, 2) from the batch's history, whatever ran in between", async () => {
    const reports = path.join(root, "reports");
    const other = makeRun(reports, "20261102-000000-other-b", "other", "passed");
    await generateHtmlReport(other);
    const run2 = makeRun(reports, "20261103-000000-demo-c", "demo", "failed");
    // What `run --html` passes: the previous run (another batch's here).
    const report = await generateHtmlReport(run2, other);
    expect(trendOf(report)).to.deep.equal([2, 1]);
    expect(trendOf(path.join(other, "allure-report"))).to.deep.equal([1]);
  });

  it("in a fresh workspace, --history-from continues a downloaded report's trend; --single-file writes one self-contained page", async () => {
    const fresh = path.join(root, "ci-workspace");
    const run3 = makeRun(fresh, "20261104-000000-demo-d", "demo", "passed");
    const r = await buildHtmlReport(run3, { historyFrom: path.join(root, "reports", "20261103-000000-demo-c", "allure-report"), singleFile: true });
    expect(trendOf(r.dir)).to.deep.equal([3, 2, 1]);
    expect(r.singleFile).to.equal(path.join(run3, "demo-20261104-000000-demo-d.html"));
    const single = fs.readFileSync(r.singleFile!, "utf8");
    expect(single).to.not.match(/googletagmanager|google-analytics|<script[^>]+src="https?:/);
    // The data travels inside the page: nothing to fetch next to it.
    expect(single).to.contain("patchlab: demo: 1 approved").and.contain("data/test-cases/");
  });

  it("Allure itself sorts results into the categories: regression, lab error, flaky, waived, pre-existing, gate decision", async () => {
    const run = path.join(root, "reports", "20261105-000000-cats-e");
    const results = resultsDirOf(run);
    const check = (name: string, status: "passed" | "failed" | "broken", message?: string, flaky = false) =>
      writeAllureResult(results, { name, fullName: `x: ${name}`, status, ...(message ? { message } : {}), start: 1, stop: 2, labels: { phase: "post-install" }, parameters: {}, flaky });
    check("regressed", "failed", "status 502");
    check("lab broke", "broken", "client container is not running");
    check("flapped", "passed", undefined, true);
    check("waived", "failed", `${MARK.waived}(bug 1; approved by alice; until 2026-12-31): status 502`);
    check("old failure", "failed", `${MARK.preExisting}(failed in baseline too, not blocking): expired cert`);
    check("no message", "failed");
    writeGateJson(run, decisionOf("x", "cats", "rejected"));
    const report = await generateHtmlReport(run);
    const tree = JSON.parse(fs.readFileSync(path.join(report, "data", "categories.json"), "utf8")) as { children: { name: string; children: { children?: { name: string }[]; name: string }[] }[] };
    const members = Object.fromEntries(tree.children.map((c) => [c.name, c.children.flatMap((m) => (m.children ?? [m]).map((t) => t.name)).sort()]));
    expect(members).to.deep.equal({
      "Patch regressions (product defects)": ["no message", "regressed"],
      "Lab errors (broken)": ["lab broke"],
      "Flaky (passed on retry)": ["flapped"],
      "Waived failures": ["waived"],
      "Pre-existing failures (not blocking)": ["old failure"],
      "Gate decisions: not approved": ["REJECTED: p a patch"],
    });
  });

  it("a run stopped on bad input (gate.json only, no results) still gets a report saying so", async () => {
    const run = path.join(root, "reports", "20261106-000000-bad-f");
    fs.mkdirSync(run, { recursive: true });
    writeGateJson(run, {
      schemaVersion: 2,
      verdict: "bad-input",
      exitCode: 3,
      summary: "Bad input: lab-config/batches/bad.yaml: patches[0]: file not found",
      patches: [],
      approvedSet: [],
      problems: [{ file: "lab-config/batches/bad.yaml", field: "patches[0]", message: "file not found", remedy: "fix the path" }],
      run: { id: "20261106-000000-bad-f", batch: "bad", lab: "reference", decidedAt: "2026-11-27T06:44:00.000Z", patches: [] },
    });
    const r = await buildHtmlReport(run);
    expect(r.reportName).to.equal("patchlab: bad: bad input, no patch decided");
    const cases = fs.readdirSync(path.join(r.dir, "data", "test-cases")).map((f) => JSON.parse(fs.readFileSync(path.join(r.dir, "data", "test-cases", f), "utf8")) as { name: string; status: string; statusMessage?: string });
    expect(cases.map((c) => [c.name, c.status])).to.deep.equal([["BAD INPUT: no patch was decided", "broken"]]);
    expect(cases[0]!.statusMessage).to.contain("file not found");
  });

  it("throws LabError dependency-missing with a remedy when java is missing", async () => {
    const savedJava = process.env.JAVA_HOME;
    process.env.JAVA_HOME = path.join(root, "no-such-jdk");
    try {
      await generateHtmlReport(path.join(root, "reports", "20261101-000000-demo-a"));
      expect.fail("should have thrown");
    } catch (e) {
      expect(e).to.be.instanceOf(LabError);
      expect((e as LabError).kind).to.equal("dependency-missing");
      expect((e as LabError).remedy).to.contain("openjdk");
    } finally {
      if (savedJava === undefined) delete process.env.JAVA_HOME;
      else process.env.JAVA_HOME = savedJava;
    }
  });
});
