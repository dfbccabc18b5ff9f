import { expect } from "chai";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { resultsDirOf, writeAllureExtras } from "../../../harness/report/allure-extras.ts";

describe("report: Allure extras for a run dir", () => {
  let run: string;
  beforeEach(() => {
    run = fs.mkdtempSync(path.join(os.tmpdir(), "patchlab-extras-"));
  });
  afterEach(() => fs.rmSync(run, { recursive: true, force: true }));

  it("writes environment.properties, executor.json and categories.json into <run>/allure-results", () => {
    writeAllureExtras(run, { runId: "20260101-abc", lab: "reference", batch: "demo", patches: ["a", "b"], buildOrder: 7 });
    const results = resultsDirOf(run);
    const env = fs.readFileSync(path.join(results, "environment.properties"), "utf8");
    expect(env).to.match(/^lab=reference$/m).and.match(/^run=20260101-abc$/m).and.match(/^batch=demo$/m).and.match(/^patches=a, b$/m);
    const executor = JSON.parse(fs.readFileSync(path.join(results, "executor.json"), "utf8"));
    expect(executor).to.include({ name: "patchlab", buildOrder: 7 });
    expect(executor.buildName).to.contain("20260101-abc");
  });

  it("categories keep product defects (failed) apart from lab/harness problems (broken)", () => {
    writeAllureExtras(run, { runId: "r", lab: "l", batch: "b" });
    const cats = JSON.parse(fs.readFileSync(path.join(resultsDirOf(run), "categories.json"), "utf8")) as { name: string; matchedStatuses: string[] }[];
    expect(cats.map((c) => [c.name, c.matchedStatuses])).to.deep.equal([
      ["Product defects (patch regressions)", ["failed"]],
      ["Lab/harness problems (broken)", ["broken"]],
    ]);
  });
});
