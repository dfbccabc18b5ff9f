// Runs the real runner (a mocha child process with allure-mocha and xunit) on throwaway spec
// files, and checks what it reports: the outcome model is only as good as this mapping.
import { expect } from "chai";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { runSuite, type RunSuiteOptions } from "../../harness/run/mocha-runner.ts";
import { SUITE_CONTEXT_ENV, type SuiteContext } from "../../harness/run/suite-context.ts";
import { suiteContext } from "../../suites/support/context.ts";
import { parseCurl } from "../../suites/support/http.ts";
import { parseX509Text } from "../../suites/support/tls.ts";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");

const context: SuiteContext = {
  runId: "run-test",
  phase: "post-install",
  depth: "full",
  patches: ["nginx-1.22.1-9+deb12u2"],
  lab: { name: "reference", domain: "lab.test", subnet: "172.30.77.0/24" },
  target: { name: "web", container: "patchlab-reference-web", ip: "172.30.77.10", fqdn: "web.lab.test", roles: ["web"] },
  machines: {
    web: { container: "patchlab-reference-web", ip: "172.30.77.10", fqdn: "web.lab.test", roles: ["web"] },
    client: { container: "patchlab-reference-client", ip: "172.30.77.15", fqdn: "client.lab.test", roles: ["client"] },
  },
  client: { name: "client", container: "patchlab-reference-client" },
  caCertPath: "/tmp/patchlab-ca.pem",
};

const SPECS: Record<string, string> = {
  "pass.spec.ts": `
    import assert from "node:assert/strict";
    describe("sample", () => {
      it("adds numbers", () => { assert.equal(1 + 1, 2); });
      it.skip("is skipped", () => {});
    });`,
  "fail.spec.ts": `
    import assert from "node:assert/strict";
    describe("sample", () => {
      it("compares numbers", () => { assert.equal(1, 2, "got 1, wanted 2"); });
    });`,
  "broken.spec.ts": `
    describe("sample", () => {
      it("reaches the lab", () => { throw new Error("client container is not running"); });
    });`,
  "hook.spec.ts": `
    describe("sample", () => {
      before(() => { throw new Error("setup could not reach the lab"); });
      it("never runs", () => {});
    });
    describe("other", () => { it("runs", () => {}); });`,
  "hang.spec.ts": `
    describe("sample", () => {
      it("finishes first", () => {});
      it("spins forever", function () { this.timeout(0); for (;;) {} });
    });`,
  "exit.spec.ts": `
    describe("sample", () => {
      it("finishes first", () => {});
      it("exits the process", () => { process.exit(0); });
      it("never runs", () => {});
    });`,
  "context.spec.ts": `
    import assert from "node:assert/strict";
    import { suiteContext } from ${JSON.stringify(pathToFileURL(path.join(ROOT, "suites/support/context.ts")).href)};
    describe("sample", () => {
      it("sees the suite context", () => {
        const c = suiteContext();
        assert.equal(c.target.fqdn, "web.lab.test");
        assert.equal(c.phase, "post-install");
      });
    });`,
  "empty.spec.ts": `describe("nothing", () => {});`,
};

type AllureFile = { labels: { name: string; value: string }[]; parameters: { name: string; value: string }[]; historyId: string };

describe("mocha-runner: runSuite", function () {
  this.timeout(90_000);
  let dir: string;
  let results: string;

  const run = (spec: string, over: Partial<RunSuiteOptions> = {}) =>
    runSuite({
      suite: path.join(dir, spec),
      context,
      resultsDir: results,
      junitFile: path.join(dir, "junit", spec.replace(".spec.ts", ".xml")),
      labels: { role: "web" },
      timeoutMs: 30_000,
      ...over,
    });
  const resultFiles = (): AllureFile[] =>
    fs.readdirSync(results).filter((f) => f.endsWith("-result.json")).map((f) => JSON.parse(fs.readFileSync(path.join(results, f), "utf8")));

  before(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "patchlab-runner-"));
    results = path.join(dir, "allure-results");
    fs.writeFileSync(path.join(dir, "package.json"), '{ "type": "module" }\n');
    for (const [name, text] of Object.entries(SPECS)) fs.writeFileSync(path.join(dir, name), text);
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  it("a passing spec gives passed (and skipped) outcomes, a JUnit file and Allure results", async () => {
    const r = await run("pass.spec.ts");
    expect(r.crashed, r.detail).to.equal(false);
    expect(r.suite).to.equal("pass");
    expect(r.tests.map((t) => [t.name, t.status])).to.deep.equal([
      ["sample > adds numbers", "passed"],
      ["sample > is skipped", "skipped"],
    ]);
    const junit = fs.readFileSync(path.join(dir, "junit", "pass.xml"), "utf8");
    expect(junit).to.contain("<testsuite").and.contain('name="adds numbers"');
    expect(resultFiles().length).to.be.at.least(2);
  });

  it("an assertion failure is failed, with its message", async () => {
    const r = await run("fail.spec.ts");
    expect(r.crashed, r.detail).to.equal(false);
    expect(r.tests).to.have.length(1);
    expect(r.tests[0]).to.include({ name: "sample > compares numbers", status: "failed" });
    expect(r.tests[0]!.message).to.contain("got 1, wanted 2");
  });

  it("a plain Error is broken, not failed", async () => {
    const r = await run("broken.spec.ts");
    expect(r.crashed, r.detail).to.equal(false);
    expect(r.tests[0]).to.include({ name: "sample > reaches the lab", status: "broken", message: "client container is not running" });
  });

  it("a failing before hook is reported as broken, not dropped", async () => {
    const r = await run("hook.spec.ts");
    expect(r.tests.map((t) => [t.name, t.status])).to.deep.include.members([
      ["other > runs", "passed"],
      ['"before all" hook', "broken"],
    ]);
    expect(r.tests.find((t) => t.status === "broken")!.message).to.contain("setup could not reach the lab");
  });

  it("a hung suite is killed at timeoutMs and reported crashed, keeping what finished", async () => {
    const started = Date.now();
    const r = await run("hang.spec.ts", { timeoutMs: 4_000 });
    expect(Date.now() - started).to.be.lessThan(15_000);
    expect(r.crashed).to.equal(true);
    expect(r.detail).to.contain("killed after 4000 ms");
    expect(r.tests.map((t) => [t.name, t.status])).to.deep.equal([["sample > finishes first", "passed"]]);
    // ...and the report shows the crash, not just a missing test.
    const crash = resultFiles().find((f) => (f as unknown as { name: string }).name === "hang suite did not finish") as unknown as { status: string; statusDetails: { message: string } };
    expect(crash, "crash result in allure-results").to.not.equal(undefined);
    expect(crash.status).to.equal("broken");
    expect(crash.statusDetails.message).to.contain("killed after 4000 ms");
  });

  it("a suite that exits the process is crashed, never a pass", async () => {
    const r = await run("exit.spec.ts");
    expect(r.crashed).to.equal(true);
    expect(r.detail).to.contain("before mocha finished");
    expect(r.tests.map((t) => t.name)).to.deep.equal(["sample > finishes first"]);
  });

  it("a suite with no tests is crashed: no result is not a pass", async () => {
    const r = await run("empty.spec.ts");
    expect(r.crashed).to.equal(true);
    expect(r.detail).to.contain("no result");
  });

  it("a missing spec file is crashed with the path in the detail", async () => {
    const r = await runSuite({ suite: "roles/no-such-role", context, resultsDir: results, junitFile: path.join(dir, "x.xml"), labels: {}, timeoutMs: 5_000 });
    expect(r.crashed).to.equal(true);
    expect(r.detail).to.contain("suites/roles/no-such-role.spec.ts");
  });

  it("hands the suite its context through PATCHLAB_SUITE_CONTEXT", async () => {
    const r = await run("context.spec.ts");
    expect(r.tests.map((t) => t.status), r.tests[0]?.message).to.deep.equal(["passed"]);
  });

  it("labels and parameters: context defaults, caller labels, a unique invocation per run", async () => {
    fs.rmSync(results, { recursive: true, force: true });
    const [a, b] = await Promise.all([run("pass.spec.ts", { labels: { role: "web", suite: "web" } }), run("fail.spec.ts", { retries: 0 })]);
    // Two runs sharing one results dir at the same time: each reads back only its own results.
    expect(a.tests.map((t) => t.status)).to.deep.equal(["passed", "skipped"]);
    expect(b.tests.map((t) => t.status)).to.deep.equal(["failed"]);
    const files = resultFiles();
    expect(files).to.have.length(3);
    const label = (f: AllureFile, n: string) => f.labels.filter((l) => l.name === n).map((l) => l.value);
    for (const f of files) {
      expect(label(f, "parentSuite")).to.deep.equal(["nginx-1.22.1-9+deb12u2"]);
      expect(label(f, "phase")).to.deep.equal(["post-install"]);
      expect(label(f, "machine")).to.deep.equal(["web"]);
      expect(label(f, "host")).to.deep.equal(["web"]);
      expect(label(f, "patch")).to.deep.equal(["nginx-1.22.1-9+deb12u2"]);
      expect(label(f, "role")).to.deep.equal(["web"]);
      expect(label(f, "invocation")).to.have.length(1);
      expect(f.parameters).to.deep.include.members([
        { name: "phase", value: "post-install" },
        { name: "machine", value: "web" },
      ]);
    }
    expect(new Set(files.map((f) => label(f, "invocation")[0])).size).to.equal(2);
    expect(files.map((f) => label(f, "suite")[0]).sort()).to.deep.equal(["4 post-install", "web", "web"]);
  });

  it("the same check in another phase gets another history id (not folded as a retry)", async () => {
    fs.rmSync(results, { recursive: true, force: true });
    await run("pass.spec.ts");
    await run("pass.spec.ts", { context: { ...context, phase: "baseline" } });
    const ids = resultFiles().map((f) => f.historyId);
    expect(new Set(ids).size).to.equal(4);
  });
});

describe("suite support", () => {
  it("suiteContext() explains a missing PATCHLAB_SUITE_CONTEXT, with a plain (broken, not failed) Error", () => {
    const saved = process.env[SUITE_CONTEXT_ENV];
    delete process.env[SUITE_CONTEXT_ENV];
    try {
      expect(() => suiteContext()).to.throw(Error, /PATCHLAB_SUITE_CONTEXT is not set/);
    } finally {
      if (saved !== undefined) process.env[SUITE_CONTEXT_ENV] = saved;
    }
  });

  it("parseCurl reads status, headers and body of `curl -i`, and keeps curl's error", () => {
    const r = parseCurl(0, "HTTP/1.1 200 OK\r\nServer: nginx/1.22.1\r\nContent-Type: text/html\r\n\r\n<p>patchlab-web-ok</p>", "");
    expect(r).to.include({ status: 200, body: "<p>patchlab-web-ok</p>" });
    expect(r.headers).to.include({ server: "nginx/1.22.1", "content-type": "text/html" });
    const down = parseCurl(7, "", "curl: (7) Failed to connect to web.lab.test port 80\n");
    expect(down).to.include({ status: 0, curlExit: 7 });
    expect(down.curlError).to.contain("Failed to connect");
  });

  it("parseX509Text reads subject, expiry and SANs from `openssl x509 -noout -subject -enddate -ext subjectAltName`", () => {
    const c = parseX509Text("subject=CN = web.lab.test\nnotAfter=Dec 26 06:07:50 2026 GMT\nX509v3 Subject Alternative Name: \n    DNS:web.lab.test, DNS:web, IP Address:1.2.3.4\n");
    expect(c).to.not.have.property("error");
    if ("error" in c) return;
    expect(c.altNames).to.deep.equal(["DNS:web.lab.test", "DNS:web", "IP:1.2.3.4"]);
    expect(c.notAfter.toISOString()).to.equal("2026-12-26T06:07:50.000Z");
    expect(parseX509Text("unable to load certificate")).to.have.property("error");
  });
});
