import { expect } from "chai";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { LabError } from "../../../harness/core/errors.ts";
import { writeAllureExtras, resultsDirOf } from "../../../harness/report/allure-extras.ts";
import { generateHtmlReport, historyDirOf } from "../../../harness/report/html.ts";
import { writeLifecycleResult } from "../../../harness/report/lifecycle.ts";

describe("report: HTML report (allure-commandline, needs java)", function () {
  this.timeout(120_000);
  let root: string;
  const makeRun = (name: string, order: number, status: "passed" | "failed") => {
    const run = path.join(root, name);
    writeAllureExtras(run, { runId: name, lab: "reference", batch: "demo", buildOrder: order });
    writeLifecycleResult(resultsDirOf(run), { phase: "install", patch: "p", machine: "web", status, start: 1000 * order, stop: 1000 * order + 500 });
    return run;
  };
  before(() => {
    root = fs.mkdtempSync(path.join(os.tmpdir(), "patchlab-html-"));
  });
  after(() => fs.rmSync(root, { recursive: true, force: true }));

  it("generates <run>/allure-report with index.html", async () => {
    const run = makeRun("run1", 1, "passed");
    const report = await generateHtmlReport(run);
    expect(report).to.equal(path.join(run, "allure-report"));
    expect(fs.existsSync(path.join(report, "index.html"))).to.equal(true);
    expect(historyDirOf(run)).to.equal(path.join(report, "history"));
  });

  it("carries history over from the previous run's report", async () => {
    const run2 = makeRun("run2", 2, "failed");
    await generateHtmlReport(run2, path.join(root, "run1"));
    const trend = JSON.parse(fs.readFileSync(path.join(run2, "allure-report", "history", "history-trend.json"), "utf8")) as { buildOrder: number }[];
    expect(trend.map((t) => t.buildOrder)).to.deep.equal([2, 1]);
  });

  it("throws LabError dependency-missing with a remedy when java is missing", async () => {
    const saved = process.env.JAVA_HOME;
    process.env.JAVA_HOME = path.join(root, "no-such-jdk");
    try {
      await generateHtmlReport(path.join(root, "run1"));
      expect.fail("should have thrown");
    } catch (e) {
      expect(e).to.be.instanceOf(LabError);
      expect((e as LabError).kind).to.equal("dependency-missing");
      expect((e as LabError).remedy).to.contain("openjdk");
    } finally {
      if (saved === undefined) delete process.env.JAVA_HOME;
      else process.env.JAVA_HOME = saved;
    }
  });
});
