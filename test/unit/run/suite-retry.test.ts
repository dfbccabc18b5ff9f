// Retry, flakiness, latency and depth through the real runner (a mocha child process with
// allure-mocha) on throwaway spec files: a check that fails once and then passes is recorded
// with its earlier attempt and marked flaky in Allure; one that fails twice stays failed.
import { expect } from "chai";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { foldRetries, mergeAttempts, retryPlan, runSuite, type RunSuiteOptions } from "../../../harness/run/mocha-runner.ts";
import type { SuiteContextInput } from "../../../harness/run/suite-context.ts";
import { suiteJunit } from "../../../harness/run/suite-junit.ts";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../..");
const support = (f: string) => JSON.stringify(pathToFileURL(path.join(ROOT, "suites/support", f)).href);

const context: SuiteContextInput = {
  runId: "run-test",
  phase: "post-install",
  patches: ["PL-1"],
  lab: { name: "reference", domain: "lab.test", subnet: "172.30.77.0/24" },
  target: { name: "db", container: "patchlab-reference-db", ip: "172.30.77.12", fqdn: "db.lab.test", roles: ["db"] },
  machines: { db: { container: "patchlab-reference-db", ip: "172.30.77.12", fqdn: "db.lab.test", roles: ["db"] } },
  client: { name: "client", container: "patchlab-reference-client" },
  caCertPath: "/tmp/patchlab-ca.pem",
};

/** A spec whose "answers" check fails while a counter file says it has run fewer than `failures` times. */
const flakySpec = (counter: string, failures: number) => `
  import assert from "node:assert/strict";
  import fs from "node:fs";
  import { check, smoke, serviceTime } from ${support("check.ts")};
  describe("db role", () => {
    smoke("db answers", () => {
      const n = Number(fs.existsSync(${JSON.stringify(counter)}) ? fs.readFileSync(${JSON.stringify(counter)}, "utf8") : "0") + 1;
      fs.writeFileSync(${JSON.stringify(counter)}, String(n));
      serviceTime(12.5);
      serviceTime(30);
      assert.ok(n > ${failures}, "db answered wrongly (try " + n + ")");
    });
    check("db keeps its data", () => { serviceTime(4); });
    it("db has no timing", () => {});
  });`;

type AllureFile = { name: string; status: string; historyId: string; statusDetails?: { flaky?: boolean }; parameters: { name: string; value: string; excluded?: boolean }[] };

describe("mocha-runner: retry, flakiness, latency, depth", function () {
  this.timeout(60_000);
  let dir: string;
  let results: string;

  const run = (spec: string, over: Partial<RunSuiteOptions> = {}) =>
    runSuite({ suite: path.join(dir, spec), context, resultsDir: results, junitFile: path.join(dir, "junit", spec.replace(".spec.ts", ".xml")), labels: {}, timeoutMs: 30_000, ...over });
  const resultFiles = (): AllureFile[] =>
    fs.readdirSync(results).filter((f) => f.endsWith("-result.json")).map((f) => JSON.parse(fs.readFileSync(path.join(results, f), "utf8")));

  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "patchlab-retry-"));
    results = path.join(dir, "allure-results");
    fs.writeFileSync(path.join(dir, "package.json"), '{ "type": "module" }\n');
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it("a check that fails on its first try only passes with the failed attempt recorded, flaky in Allure and JUnit", async () => {
    fs.writeFileSync(path.join(dir, "flaky.spec.ts"), flakySpec(path.join(dir, "count"), 1));
    const r = await run("flaky.spec.ts");
    expect(r.crashed, r.detail).to.equal(false);
    const t = r.tests.find((x) => x.name === "db role > db answers")!;
    expect(t.status).to.equal("passed");
    expect(t.attempts).to.have.length(1);
    expect(t.attempts![0]!.status).to.equal("failed");
    expect(t.attempts![0]!.message).to.contain("db answered wrongly (try 1)");
    // Only the failed check ran again.
    expect(r.tests.find((x) => x.name === "db role > db keeps its data")!.attempts).to.equal(undefined);
    expect(fs.readFileSync(path.join(dir, "count"), "utf8")).to.equal("2");
    const answers = resultFiles().filter((f) => f.name === "db answers");
    expect(answers.map((f) => f.status).sort()).to.deep.equal(["failed", "passed"]);
    expect(new Set(answers.map((f) => f.historyId)).size, "one history id: Allure shows the first try as a retry").to.equal(1);
    const final = answers.find((f) => f.status === "passed")!;
    expect(final.statusDetails?.flaky).to.equal(true);
    expect(final.parameters).to.deep.include({ name: "attempt", value: "2", excluded: true });
    const junit = fs.readFileSync(path.join(dir, "junit", "flaky.xml"), "utf8");
    expect(junit).to.contain('failures="0"').and.contain("<flakyFailure").and.contain("db answered wrongly (try 1)");
  });

  it("a check that fails twice is failed, with both attempts' messages", async () => {
    fs.writeFileSync(path.join(dir, "fails.spec.ts"), flakySpec(path.join(dir, "count"), 5));
    const r = await run("fails.spec.ts");
    const t = r.tests.find((x) => x.name === "db role > db answers")!;
    expect(t.status).to.equal("failed");
    expect(t.message).to.contain("(try 2)");
    expect(t.attempts!.map((a) => a.status)).to.deep.equal(["failed"]);
    expect(resultFiles().filter((f) => f.name === "db answers").every((f) => !f.statusDetails?.flaky)).to.equal(true);
    expect(fs.readFileSync(path.join(dir, "junit", "fails.xml"), "utf8")).to.contain('failures="1"').and.contain("<rerunFailure");
  });

  it("retries: 0 records the first try as it is", async () => {
    fs.writeFileSync(path.join(dir, "once.spec.ts"), flakySpec(path.join(dir, "count"), 1));
    const r = await run("once.spec.ts", { retries: 0 });
    expect(r.tests.find((x) => x.name === "db role > db answers")).to.include({ status: "failed" });
    expect(fs.readFileSync(path.join(dir, "count"), "utf8")).to.equal("1");
  });

  it("records the service's answer time of each check as latencyMs (and an Allure parameter outside the history id)", async () => {
    fs.writeFileSync(path.join(dir, "timed.spec.ts"), flakySpec(path.join(dir, "count"), 0));
    const r = await run("timed.spec.ts");
    const by = Object.fromEntries(r.tests.map((t) => [t.name, t.latencyMs]));
    expect(by).to.deep.equal({ "db role > db answers": 42.5, "db role > db keeps its data": 4, "db role > db has no timing": undefined });
    const p = resultFiles().find((f) => f.name === "db answers")!.parameters.find((x) => x.name === "latencyMs");
    expect(p).to.deep.include({ value: "42.5", excluded: true });
  });

  it("depth limited registers only the smoke check; full registers every check", async () => {
    fs.writeFileSync(path.join(dir, "depth.spec.ts"), flakySpec(path.join(dir, "count"), 0));
    const limited = await run("depth.spec.ts", { context: { ...context, depth: "limited" } });
    expect(limited.tests.map((t) => t.name)).to.deep.equal(["db role > db answers", "db role > db has no timing"]);
    const full = await run("depth.spec.ts", { context: { ...context, depth: "full" } });
    expect(full.tests.map((t) => t.name)).to.deep.equal(["db role > db answers", "db role > db keeps its data", "db role > db has no timing"]);
  });

  it("a before-all hook that fails once reruns the whole suite; its checks carry the hook failure as attempt 1", async () => {
    const counter = path.join(dir, "count");
    fs.writeFileSync(
      path.join(dir, "hook.spec.ts"),
      `import fs from "node:fs";
       describe("file role", () => {
         before(() => {
           const n = Number(fs.existsSync(${JSON.stringify(counter)}) ? fs.readFileSync(${JSON.stringify(counter)}, "utf8") : "0") + 1;
           fs.writeFileSync(${JSON.stringify(counter)}, String(n));
           if (n === 1) throw new Error("client not reachable yet");
         });
         it("file lists the share", () => {});
       });`,
    );
    const r = await run("hook.spec.ts");
    expect(r.tests.map((t) => [t.name, t.status])).to.deep.equal([["file role > file lists the share", "passed"]]);
    expect(r.tests[0]!.attempts![0]).to.deep.include({ status: "broken" });
    expect(r.tests[0]!.attempts![0]!.message).to.contain("client not reachable yet");
  });

  it("retryPlan greps exactly the failed and broken checks by their full title", () => {
    const plan = retryPlan([
      { name: "web role > web (a.b) answers", status: "failed", durationMs: 1 },
      { name: "web role > web ok", status: "passed", durationMs: 1 },
      { name: "web role > web tls", status: "broken", durationMs: 1 },
    ])!;
    expect(plan.names).to.deep.equal(["web role > web (a.b) answers", "web role > web tls"]);
    const re = new RegExp(plan.grep!);
    expect(re.test("web role web (a.b) answers")).to.equal(true);
    expect(re.test("web role web (axb) answers")).to.equal(false);
    expect(re.test("web role web ok")).to.equal(false);
    expect(retryPlan([{ name: "a > b", status: "passed", durationMs: 1 }])).to.equal(undefined);
    expect(retryPlan([{ name: '"before all" hook', status: "broken", durationMs: 0 }])!.grep).to.equal(undefined);
  });

  it("mergeAttempts keeps first-try passes and a retried check missing on retry as it was", () => {
    const merged = mergeAttempts(
      [
        { name: "s > a", status: "passed", durationMs: 1 },
        { name: "s > b", status: "failed", message: "boom", durationMs: 1 },
      ],
      [],
      { names: ["s > b"], grep: "x" },
    );
    expect(merged[0]).to.deep.equal({ name: "s > a", status: "passed", durationMs: 1 });
    expect(merged[1]).to.include({ status: "failed" });
    expect(merged[1]!.message).to.contain("no result on retry");
  });

  it("suiteJunit writes failures, errors and earlier attempts", () => {
    const x = suiteJunit("post-install dns dns", [
      { name: "dns role > dns answers SOA", status: "passed", durationMs: 10, attempts: [{ status: "broken", message: "timeout <1s>" }] },
      { name: "dns role > dns NXDOMAIN", status: "failed", message: "got NOERROR", durationMs: 5 },
    ]);
    expect(x).to.contain('tests="2" failures="1" errors="0"');
    expect(x).to.contain('<flakyError message="timeout &lt;1s&gt;">');
    expect(x).to.contain('classname="dns role" name="dns NXDOMAIN"');
  });
});

describe("mocha-runner: a check mocha already retried in-process", () => {
  it("is judged by its last try: not retried again when that passed", () => {
    expect(
      retryPlan([
        { name: "web role > flaps", status: "failed", durationMs: 1 },
        { name: "web role > flaps", status: "passed", durationMs: 1 },
      ]),
    ).to.equal(undefined);
  });
});

describe("mocha-runner: in-process retries fold into one outcome", () => {
  it("the last try is the outcome, earlier tries its attempts", () => {
    const folded = foldRetries([
      { name: "s > a", status: "failed", message: "t1", durationMs: 1 },
      { name: "s > b", status: "passed", durationMs: 1 },
      { name: "s > a", status: "passed", durationMs: 2 },
    ]);
    expect(folded).to.deep.equal([
      { name: "s > a", status: "passed", durationMs: 2, attempts: [{ status: "failed", message: "t1", durationMs: 1 }] },
      { name: "s > b", status: "passed", durationMs: 1 },
    ]);
  });
});
