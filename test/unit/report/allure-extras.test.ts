import { expect } from "chai";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { CATEGORIES, MARK, environmentInfo, executorInfo, resultsDirOf, writeAllureExtras } from "../../../harness/report/allure-extras.ts";
import { ciInfo } from "../../../harness/report/ci-env.ts";
import { repoRoot } from "../../../harness/core/paths.ts";

/** Allure matches a category's messageRegex against the whole message (Java, DOTALL). */
function categoriesOf(r: { status: string; message?: string; flaky?: boolean }): string[] {
  return CATEGORIES.filter((c) => {
    const status = !c.matchedStatuses?.length || c.matchedStatuses.includes(r.status as never);
    const message = !c.messageRegex || (r.message !== undefined && new RegExp(`^(?:${String(c.messageRegex)})$`, "s").test(r.message));
    return status && message && !!c.flaky === !!r.flaky;
  }).map((c) => c.name!);
}

const GITHUB = {
  GITHUB_ACTIONS: "true",
  GITHUB_SERVER_URL: "https://github.example.com",
  GITHUB_REPOSITORY: "ops/patches",
  GITHUB_RUN_ID: "9876543210",
  GITHUB_RUN_NUMBER: "42",
  GITHUB_RUN_ATTEMPT: "1",
  GITHUB_WORKFLOW: "verify patches",
  GITHUB_SHA: "0123abcd",
  GITHUB_REF_NAME: "main",
};
const GITLAB = {
  GITLAB_CI: "true",
  CI_PROJECT_URL: "https://gitlab.example.com/ops/patches",
  CI_PROJECT_PATH: "ops/patches",
  CI_PIPELINE_URL: "https://gitlab.example.com/ops/patches/-/pipelines/555",
  CI_PIPELINE_IID: "17",
  CI_JOB_URL: "https://gitlab.example.com/ops/patches/-/jobs/999",
  CI_JOB_NAME: "verify",
  CI_COMMIT_SHA: "feedbeef",
  CI_COMMIT_REF_NAME: "main",
};
const info = { runId: "20261127-064334-demo-0142", lab: "reference", batch: "demo", patches: ["PL-DEMO-0001", "PL-DEMO-0002"] };

describe("report: Allure extras (categories, environment, executor)", () => {
  let run: string;
  beforeEach(() => {
    run = fs.mkdtempSync(path.join(os.tmpdir(), "patchlab-extras-"));
  });
  afterEach(() => fs.rmSync(run, { recursive: true, force: true }));

  it("writes environment.properties, executor.json and categories.json into <run>/allure-results", () => {
    writeAllureExtras(run, { ...info, buildOrder: 7 }, {});
    const results = resultsDirOf(run);
    const env = fs.readFileSync(path.join(results, "environment.properties"), "utf8");
    expect(env).to.match(/^lab=reference$/m).and.match(/^run=20261127-064334-demo-0142$/m).and.match(/^batch=demo$/m).and.match(/^patches=PL-DEMO-0001, PL-DEMO-0002$/m);
    const executor = JSON.parse(fs.readFileSync(path.join(results, "executor.json"), "utf8"));
    expect(executor).to.include({ name: "patchlab", buildOrder: 7, reportName: "patchlab: demo" });
    expect(executor.buildName).to.contain("20261127-064334-demo-0142");
    expect(JSON.parse(fs.readFileSync(path.join(results, "categories.json"), "utf8"))).to.have.length(CATEGORIES.length);
  });

  describe("categories split the results a reviewer must tell apart", () => {
    it("a failed check is a patch regression", () => {
      expect(categoriesOf({ status: "failed", message: "GET http://web.lab.test/ : status: expected 502 to equal 200" })).to.deep.equal(["Patch regressions (product defects)"]);
    });
    it("a broken check is a lab error, never a regression", () => {
      expect(categoriesOf({ status: "broken", message: "client container is not running" })).to.deep.equal(["Lab errors (broken)"]);
    });
    it("a check that passed on retry is flaky, and only flaky", () => {
      expect(categoriesOf({ status: "passed", flaky: true })).to.deep.equal(["Flaky (passed on retry)"]);
      expect(categoriesOf({ status: "failed", message: "x", flaky: true })).to.deep.equal(["Flaky (passed on retry)"]);
    });
    it("a waived failure is waived, not a regression (also multi-line messages)", () => {
      expect(categoriesOf({ status: "failed", message: `${MARK.waived}(known issue; approved by alice; until 2026-12-31): status 502\nmore` })).to.deep.equal(["Waived failures"]);
    });
    it("a pre-existing failure is its own category", () => {
      expect(categoriesOf({ status: "failed", message: `${MARK.preExisting}(failed in baseline too, not blocking): x` })).to.deep.equal(["Pre-existing failures (not blocking)"]);
    });
    it("a verdict that is not an approval is a gate decision, not a regression or lab error", () => {
      expect(categoriesOf({ status: "failed", message: `${MARK.verdict}rejected (1 regression)\n- regression: ...` })).to.deep.equal(["Gate decisions: not approved"]);
      expect(categoriesOf({ status: "broken", message: `${MARK.verdict}needs review (1 broken)` })).to.deep.equal(["Gate decisions: not approved"]);
    });
    it("a passed check is in no category", () => {
      expect(categoriesOf({ status: "passed" })).to.deep.equal([]);
    });
  });

  describe("executor and environment from the CI's variables", () => {
    it("GitHub Actions: run number as build order, links to the repository and the run", () => {
      expect(executorInfo(info, GITHUB)).to.deep.equal({
        name: "GitHub Actions",
        type: "github",
        url: "https://github.example.com/ops/patches",
        buildOrder: 42,
        buildName: "verify patches #42",
        buildUrl: "https://github.example.com/ops/patches/actions/runs/9876543210",
        reportName: "patchlab: demo",
      });
      expect(environmentInfo(info, GITHUB)).to.include({ ci: "GitHub Actions", commit: "0123abcd", branch: "main", "ci.run": "https://github.example.com/ops/patches/actions/runs/9876543210" });
    });
    it("GitHub Actions: a re-run attempt links to that attempt", () => {
      expect(ciInfo({ ...GITHUB, GITHUB_RUN_ATTEMPT: "2" })?.executor.buildUrl).to.equal("https://github.example.com/ops/patches/actions/runs/9876543210/attempts/2");
    });
    it("GitLab CI: pipeline IID as build order, links to the project and the job", () => {
      expect(executorInfo(info, GITLAB)).to.deep.equal({
        name: "GitLab CI",
        type: "gitlab",
        url: "https://gitlab.example.com/ops/patches",
        buildOrder: 17,
        buildName: "ops/patches #17 (verify)",
        buildUrl: "https://gitlab.example.com/ops/patches/-/jobs/999",
        reportName: "patchlab: demo",
      });
      expect(environmentInfo(info, GITLAB)).to.include({ ci: "GitLab CI", commit: "feedbeef", "ci.pipeline": "https://gitlab.example.com/ops/patches/-/pipelines/555", "ci.job": "https://gitlab.example.com/ops/patches/-/jobs/999" });
    });
    it("outside CI: patchlab as executor, the caller's build order, no CI entries", () => {
      expect(ciInfo({})).to.equal(undefined);
      expect(executorInfo({ ...info, buildOrder: 3 }, {})).to.deep.equal({ name: "patchlab", type: "patchlab", buildName: "demo on reference (run 20261127-064334-demo-0142)", reportName: "patchlab: demo", buildOrder: 3 });
      expect(environmentInfo(info, {})).to.deep.equal({ batch: "demo", lab: "reference", run: "20261127-064334-demo-0142", patches: "PL-DEMO-0001, PL-DEMO-0002", patchlab: (JSON.parse(fs.readFileSync(path.join(repoRoot, "package.json"), "utf8")) as { version: string }).version });
    });
    it("PATCHLAB_REPORT_URL becomes the executor's report link", () => {
      expect(executorInfo(info, { ...GITLAB, PATCHLAB_REPORT_URL: "https://ops.example.com/reports/demo/" }).reportUrl).to.equal("https://ops.example.com/reports/demo/");
    });
  });
});
