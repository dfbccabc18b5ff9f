// The warm suite worker (harness/run/suite-worker.ts) keeps mocha-runner.ts's contract: on the
// same throwaway spec files it reports exactly what the mocha CLI child reports (outcomes,
// crashes, timeouts, JUnit, Allure labels), and every run still gets fresh modules.
import { expect } from "chai";
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { runSuite, type RunSuiteOptions } from "../../harness/run/mocha-runner.ts";
import type { SuiteContext } from "../../harness/run/suite-context.ts";
import { SuiteWorkerPool } from "../../harness/run/suite-worker.ts";
import type { SuiteRunResult } from "../../harness/report/outcome-model.ts";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");

const context: SuiteContext = {
  runId: "run-test",
  phase: "post-install",
  patches: ["P-1"],
  lab: { name: "reference", domain: "lab.test", subnet: "172.30.77.0/24" },
  target: { name: "web", container: "patchlab-reference-web", ip: "172.30.77.10", fqdn: "web.lab.test", roles: ["web"] },
  machines: { web: { container: "patchlab-reference-web", ip: "172.30.77.10", fqdn: "web.lab.test", roles: ["web"] } },
  client: { name: "client", container: "patchlab-reference-client" },
  caCertPath: "/tmp/patchlab-ca.pem",
};

const contextModule = JSON.stringify(pathToFileURL(path.join(ROOT, "suites/support/context.ts")).href);
const SPECS: Record<string, string> = {
  "pass.spec.ts": `import assert from "node:assert/strict";
    describe("sample", () => { it("adds numbers", () => { assert.equal(1 + 1, 2); }); it.skip("is skipped", () => {}); });`,
  "fail.spec.ts": `import assert from "node:assert/strict";
    describe("sample", () => { it("compares numbers", () => { assert.equal(1, 2, "got 1, wanted 2"); }); });`,
  "broken.spec.ts": `describe("sample", () => { it("reaches the lab", () => { throw new Error("client container is not running"); }); });`,
  "hook.spec.ts": `describe("sample", () => { before(() => { throw new Error("setup could not reach the lab"); }); it("never runs", () => {}); });
    describe("other", () => { it("runs", () => {}); });`,
  "exit.spec.ts": `describe("sample", () => { it("finishes first", () => {}); it("exits the process", () => { process.exit(0); }); it("never runs", () => {}); });`,
  "empty.spec.ts": `describe("nothing", () => {});`,
  // The support module caches its context: a second run must still see its own (fresh modules).
  "context.spec.ts": `import assert from "node:assert/strict";
    import { suiteContext } from ${contextModule};
    describe("sample", () => { it("sees its own suite context", () => { assert.equal(suiteContext().phase, process.env.EXPECT_PHASE ?? "post-install"); }); });`,
  "counter.spec.ts": `import assert from "node:assert/strict";
    import { bump } from "./counter.ts";
    describe("sample", () => { it("starts from fresh modules", () => { assert.equal(bump(), 1); }); });`,
  "sleep.spec.ts": `describe("sample", () => { it("takes its time", async () => { await new Promise((r) => setTimeout(r, 1500)); }); });`,
  "package.spec.ts": `import { expect } from "chai";
    describe("sample", () => { it("uses a package", () => { expect(1 + 1).to.equal(2); }); });`,
  "hang.spec.ts": `describe("sample", () => { it("finishes first", () => {}); it("spins forever", function () { this.timeout(0); for (;;) {} }); });`,
};

/** What must be identical between the two runners. */
const shape = (r: SuiteRunResult) => ({
  suite: r.suite,
  crashed: r.crashed,
  detail: r.crashed ? r.detail.replace(/; output: [\s\S]*$/, "") : r.detail,
  // attempts too: a failed or broken check is retried once, by either runner the same way.
  tests: r.tests.map((t) => ({ name: t.name, status: t.status, message: t.message, attempts: t.attempts?.map((a) => ({ status: a.status, message: a.message })) })),
});

describe("suite-worker: warm suite processes, same results as mocha-runner", function () {
  this.timeout(120_000);
  let dir: string;
  let pool: SuiteWorkerPool;
  let bundled: SuiteWorkerPool;
  const opts = (spec: string, results: string, over: Partial<RunSuiteOptions> = {}): RunSuiteOptions => ({
    suite: path.join(dir, spec),
    context,
    resultsDir: path.join(dir, results),
    junitFile: path.join(dir, `junit-${results}`, spec.replace(".spec.ts", ".xml")),
    labels: { role: "web" },
    timeoutMs: 30_000,
    ...over,
  });

  before(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "patchlab-worker-"));
    fs.writeFileSync(path.join(dir, "package.json"), '{ "type": "module" }\n');
    fs.writeFileSync(path.join(dir, "counter.ts"), "let n = 0;\nexport const bump = () => ++n;\n");
    for (const [name, text] of Object.entries(SPECS)) fs.writeFileSync(path.join(dir, name), text);
    pool = new SuiteWorkerPool({ size: 2 });
    bundled = new SuiteWorkerPool({ size: 1, bundle: true });
  });
  after(() => {
    pool.close();
    bundled.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  const COMPARED = ["pass.spec.ts", "fail.spec.ts", "broken.spec.ts", "hook.spec.ts", "exit.spec.ts", "empty.spec.ts"];
  const triples = new Map<string, Promise<[SuiteRunResult, SuiteRunResult, SuiteRunResult]>>();
  for (const spec of COMPARED) {
    it(`${spec}: the same outcomes as the mocha CLI child, warm and bundled`, async () => {
      // All start together on first use: the file's time is one round, not one per spec.
      if (!triples.size) for (const x of COMPARED) triples.set(x, Promise.all([runSuite(opts(x, "cli")), pool.runSuite(opts(x, "warm")), bundled.runSuite(opts(x, "bundled"))]));
      const [cold, warm, bundle] = await triples.get(spec)!;
      expect(shape(warm)).to.deep.equal(shape(cold));
      expect(shape(bundle)).to.deep.equal(shape(cold));
    });
  }

  it("a bundled suite's results name the spec file, as the mocha CLI's do (same Allure fullName and history)", async () => {
    const ids = (dirName: string) => fs.readdirSync(path.join(dir, dirName)).filter((f) => f.endsWith("-result.json"))
      .map((f) => JSON.parse(fs.readFileSync(path.join(dir, dirName, f), "utf8")) as { fullName: string; name: string })
      .filter((r) => r.name === "adds numbers").map((r) => r.fullName);
    await Promise.all([runSuite(opts("pass.spec.ts", "names-cli")), bundled.runSuite(opts("pass.spec.ts", "names-bundled"))]);
    expect(ids("names-bundled")).to.deep.equal(ids("names-cli"));
    expect(ids("names-cli")[0]).to.contain("pass.spec.ts");
  });

  it("writes JUnit and Allure results with the run's labels and a fresh invocation each", async () => {
    const a = await pool.runSuite(opts("pass.spec.ts", "labels", { labels: { role: "web", suite: "web" } }));
    const b = await pool.runSuite(opts("pass.spec.ts", "labels"));
    expect([a.crashed, b.crashed]).to.deep.equal([false, false]);
    expect(fs.readFileSync(path.join(dir, "junit-labels", "pass.xml"), "utf8")).to.contain('name="adds numbers"');
    const files = fs.readdirSync(path.join(dir, "labels")).filter((f) => f.endsWith("-result.json")).map((f) => JSON.parse(fs.readFileSync(path.join(dir, "labels", f), "utf8")) as { labels: { name: string; value: string }[]; parameters: { name: string; value: string }[] });
    expect(files).to.have.length(4);
    const label = (f: (typeof files)[number], n: string) => f.labels.filter((l) => l.name === n).map((l) => l.value);
    for (const f of files) {
      expect(label(f, "machine")).to.deep.equal(["web"]);
      expect(label(f, "host")).to.deep.equal(["web"]);
      expect(label(f, "phase")).to.deep.equal(["post-install"]);
      expect(f.parameters).to.deep.include({ name: "phase", value: "post-install" });
    }
    expect(new Set(files.map((f) => label(f, "invocation")[0])).size).to.equal(2);
  });

  it("every run gets fresh modules: module state and the cached suite context do not leak into the next run", async () => {
    for (const p of [pool, bundled]) {
      const r = await p.runSuite(opts("counter.spec.ts", "fresh"));
      expect(r.tests.map((t) => [t.status, t.message ?? ""]), r.detail).to.deep.equal([["passed", ""]]);
    }
    for (const p of [pool, bundled]) {
      const base = await p.runSuite(opts("context.spec.ts", "fresh", { context: { ...context, phase: "baseline" } }));
      expect(base.tests.map((t) => t.status), base.tests[0]?.message).to.deep.equal(["failed"]); // it expects post-install: it saw baseline
      const post = await p.runSuite(opts("context.spec.ts", "fresh"));
      expect(post.tests.map((t) => t.status), post.tests[0]?.message).to.deep.equal(["passed"]);
    }
  });

  it("a hung suite is killed with its process group at timeoutMs and reported crashed", async () => {
    const r = await pool.runSuite(opts("hang.spec.ts", "hang", { timeoutMs: 4_000 }));
    expect(r.crashed).to.equal(true);
    expect(r.detail).to.contain("killed after 4000 ms");
    expect(r.tests.map((t) => [t.name, t.status])).to.deep.equal([["sample > finishes first", "passed"]]);
  });

  it("close() leaves no suite process behind, idle or running", async () => {
    const p = new SuiteWorkerPool({ size: 2 });
    const running = p.runSuite(opts("hang.spec.ts", "close", { timeoutMs: 60_000 }));
    await new Promise((r) => setTimeout(r, 500));
    const mine = () => execFileSync("ps", ["-eo", "pid,args"], { encoding: "utf8" }).split("\n").filter((l) => l.includes("suite-worker-child.ts"));
    const before = mine().length;
    expect(before, "warm processes exist while the pool is open").to.be.at.least(2);
    p.close();
    const r = await running;
    expect(r.crashed).to.equal(true);
    await new Promise((r) => setTimeout(r, 300));
    expect(mine().length, "processes left after close()").to.equal(before - 2);
  });

  it("a suite's replacement warms up after the suite's process exits, not beside it (2 cores: no contention)", async () => {
    // This test's own children only (other checkouts on the host may run the same tests).
    const pids = () => new Set(execFileSync("ps", ["-eo", "pid,ppid,args"], { encoding: "utf8" }).split("\n").map((l) => l.trim().split(/\s+/)).filter((f) => f[1] === String(process.pid) && f.join(" ").includes("suite-worker-child.ts")).map((f) => f[0]!));
    const others = pids();
    const p = new SuiteWorkerPool({ size: 1 });
    try {
      const mine = () => [...pids()].filter((x) => !others.has(x));
      await new Promise((r) => setTimeout(r, 300));
      const [spare] = mine();
      expect(mine(), "one process warming up ahead of need").to.have.length(1);
      const running = p.runSuite(opts("sleep.spec.ts", "replace"));
      await new Promise((r) => setTimeout(r, 800));
      expect(mine(), "while the suite runs, only its own process").to.deep.equal([spare]);
      const r = await running;
      expect(r.tests.map((t) => t.status)).to.deep.equal(["passed"]);
      await new Promise((r) => setTimeout(r, 200));
      const after = mine();
      expect(after, "the replacement, started once the suite was done").to.have.length(1);
      expect(after[0]).not.to.equal(spare);
    } finally {
      p.close();
    }
  });

  it("bundled: later spares preload the packages the suites bundled so far import (off the critical path)", async () => {
    const args = () => execFileSync("ps", ["-eo", "ppid,args"], { encoding: "utf8" }).split("\n").map((l) => l.trim().split(/\s+/)).filter((f) => f[0] === String(process.pid) && f.join(" ").includes("/worker-")).map((f) => f.slice(1).join(" "));
    const before = new Set(args());
    const p = new SuiteWorkerPool({ size: 1, bundle: true });
    try {
      await new Promise((r) => setTimeout(r, 300));
      const first = args().filter((a) => !before.has(a));
      expect(first, "the first spare knows no suite yet").to.have.length(1);
      expect(first[0]).to.match(/worker-[0-9a-f]+\.mjs$/);
      const r = await p.runSuite(opts("package.spec.ts", "preload"));
      expect(r.tests.map((t) => t.status), r.detail).to.deep.equal(["passed"]);
      await new Promise((r) => setTimeout(r, 200));
      const next = args().filter((a) => !before.has(a));
      expect(next, "one replacement").to.have.length(1);
      // ps shows the empty support-dir argument as a space; the hooks' packages come along.
      expect(next[0]!.startsWith(`${first[0]} `), next[0]).to.equal(true);
      expect(next[0]!.slice(first[0]!.length).trim().split(/\s+/)).to.include("chai").and.not.include("playwright");
      const again = await p.runSuite(opts("package.spec.ts", "preload"));
      expect(again.tests.map((t) => t.status), again.detail).to.deep.equal(["passed"]);
    } finally {
      p.close();
    }
  });
});
