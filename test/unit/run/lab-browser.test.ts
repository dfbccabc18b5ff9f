// The suites' browser (suites/support/browser.ts) in a real suite process with Debian's
// chromium against a page served on loopback under a lab name: one browser per suite run,
// a fresh context per check (no cookie carries over), launched again after it was closed, and
// confined to the lab (a request to any other host is blocked and listed).
import { expect } from "chai";
import fs from "node:fs";
import http from "node:http";
import os from "node:os";
import path from "node:path";
import type { AddressInfo } from "node:net";
import { fileURLToPath, pathToFileURL } from "node:url";
import { runSuite } from "../../../harness/run/mocha-runner.ts";
import type { SuiteContext } from "../../../harness/run/suite-context.ts";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../..");
const BROWSER = JSON.stringify(pathToFileURL(path.join(ROOT, "suites/support/browser.ts")).href);

const SPEC = `
import assert from "node:assert/strict";
import { closeLabBrowser, withLabBrowser } from ${BROWSER};
const base = process.env.PATCHLAB_TEST_WEB_URL;
let first;
describe("lab browser", function () {
  this.timeout(60_000);
  after(() => closeLabBrowser());
  it("a check gets a page in a lab browser and keeps its cookies", async () => {
    await withLabBrowser(async (b) => {
      first = b.browser;
      const r = await b.page.goto(base + "/set");
      assert.equal(r.status(), 200);
      assert.equal((await b.context.cookies()).length, 1);
    });
  });
  it("the next check shares the browser process but not the cookies, and cannot leave the lab", async () => {
    await withLabBrowser(async (b) => {
      assert.ok(b.browser === first, "a second browser was launched");
      assert.equal((await b.context.cookies()).length, 0, "a cookie of the previous check carried over");
      await b.page.goto(base + "/");
      const got = await b.page.evaluate(() => fetch("http://outside.example/probe").then(() => "reached", () => "refused"));
      assert.equal(got, "refused");
      assert.deepEqual(b.blocked, ["http://outside.example/probe"]);
    });
  });
  it("a closed browser is launched again for the next check", async () => {
    await closeLabBrowser();
    assert.equal(first.isConnected(), false);
    await withLabBrowser(async (b) => {
      assert.ok(b.browser !== first, "the closed browser was handed out again");
      assert.equal((await b.page.goto(base + "/")).status(), 200);
    });
  });
});
`;

describe("suites: the lab browser", function () {
  this.timeout(120_000);
  let dir: string;
  let server: http.Server;
  let port = 0;

  before(async function () {
    if (!fs.existsSync("/usr/bin/chromium")) this.skip();
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "patchlab-browser-"));
    fs.writeFileSync(path.join(dir, "package.json"), '{ "type": "module" }\n');
    fs.writeFileSync(path.join(dir, "browser.spec.ts"), SPEC);
    server = http.createServer((req, res) => {
      if (req.url === "/set") res.setHeader("Set-Cookie", "session=1; Path=/");
      res.setHeader("Content-Type", "text/html");
      res.end("<html><body>lab page</body></html>");
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    port = (server.address() as AddressInfo).port;
  });
  after(() => {
    server?.close();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  it("shares one browser across a suite's checks, each in a fresh context, confined to the lab", async () => {
    const web = { container: "c-web", ip: "127.0.0.1", fqdn: "web.lab.test", roles: ["web" as const] };
    const context = {
      runId: "run-test",
      phase: "post-install",
      depth: "full",
      patches: ["p"],
      lab: { name: "reference", domain: "lab.test", subnet: "127.0.0.0/24" },
      target: { name: "web", ...web },
      machines: { web, client: { container: "c-client", ip: "127.0.0.2", fqdn: "client.lab.test", roles: ["client" as const] } },
      client: { name: "client", container: "c-client" },
      caCertPath: "/tmp/patchlab-ca.pem",
    } as SuiteContext;
    process.env.PATCHLAB_TEST_WEB_URL = `http://web.lab.test:${port}`;
    try {
      const r = await runSuite({ suite: path.join(dir, "browser.spec.ts"), context, resultsDir: path.join(dir, "results"), junitFile: path.join(dir, "junit.xml"), labels: { role: "web" }, timeoutMs: 90_000, retries: 0 });
      expect(r.crashed, r.detail).to.equal(false);
      expect(r.tests.map((t) => `${t.status} ${t.name}${t.message ? `: ${t.message}` : ""}`)).to.deep.equal([
        "passed lab browser > a check gets a page in a lab browser and keeps its cookies",
        "passed lab browser > the next check shares the browser process but not the cookies, and cannot leave the lab",
        "passed lab browser > a closed browser is launched again for the next check",
      ]);
    } finally {
      delete process.env.PATCHLAB_TEST_WEB_URL;
    }
  });
});
