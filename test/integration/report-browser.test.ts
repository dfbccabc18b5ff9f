// Acceptance for the report a reviewer reads: two runs of the demo batch (real suite runner,
// real gate, real report writers; see test/fixtures/report/demo-runs.ts: no Docker needed),
// the second one's report served by `patchlab report --open` as a user would run it, and read
// in Debian's chromium. Fails when a label, a verdict, the attachment or the history is wrong.
import { expect } from "chai";
import { spawn, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { chromium, type Browser, type Locator, type Page } from "playwright";
import { repoRoot } from "../../harness/core/paths.ts";
import { buildHtmlReport } from "../../harness/report/html.ts";
import { buildDemoRun, CVES } from "../fixtures/report/demo-runs.ts";

const CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run"];

/** Starts `patchlab report <run> --open` and resolves with the URL it prints. */
function openReport(runId: string, env: NodeJS.ProcessEnv): Promise<{ child: ChildProcess; url: string; output: () => string }> {
  const child = spawn(process.execPath, [path.join(repoRoot, "bin", "patchlab.js"), "report", runId, "--open"], { cwd: repoRoot, env, stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no URL within 60 s:\n${out}`)), 60_000);
    const onData = (b: Buffer) => {
      out += b.toString();
      const m = /Serving the report at (http:\/\/127\.0\.0\.1:\d+\/)/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve({ child, url: m[1]!, output: () => out });
      }
    };
    child.stdout!.on("data", onData);
    child.stderr!.on("data", onData);
    child.on("exit", (code) => reject(new Error(`report --open exited (${code}) before serving:\n${out}`)));
  });
}

/** A tree group by its exact name, optionally inside another group. */
const group = (scope: Page | Locator, name: string) =>
  scope.locator(`.node[data-node-kind="group"]:has(> .node__title .node__name:text-is("${name}"))`).first();
const open = async (g: Locator) => {
  if ((await g.locator("> .node__children").count()) === 0) await g.locator("> .node__title").click();
  return g;
};
const childNames = (g: Locator) => g.locator("> .node__children > .node > .node__title .node__name").allInnerTexts();

describe("report: what a reviewer sees in the browser (playwright + chromium + allure)", function () {
  this.timeout(180_000);
  let root: string;
  let server: { child: ChildProcess; url: string; output: () => string };
  let browser: Browser;
  let page: Page;
  const outside: string[] = [];
  const timings: Record<string, number> = {};

  before(async () => {
    let t = Date.now();
    root = fs.mkdtempSync(path.join(os.tmpdir(), "patchlab-report-browser-"));
    const env = { ...process.env, PATCHLAB_REPORTS_DIR: root };
    process.env.PATCHLAB_REPORTS_DIR = root;
    const first = await buildDemoRun(root, 1);
    const second = await buildDemoRun(root, 2);
    timings.buildRunsMs = Date.now() - t;
    t = Date.now();
    await buildHtmlReport(first.runDir); // the first cycle's report starts the batch's history
    timings.firstReportMs = Date.now() - t;
    t = Date.now();
    server = await openReport(second.runId, env);
    timings.secondReportAndServeMs = Date.now() - t;
    browser = await chromium.launch({ executablePath: "/usr/bin/chromium", args: CHROMIUM_ARGS });
    page = await browser.newPage({ viewport: { width: 1500, height: 1100 } });
    // The report must work offline and call nobody: anything not to our server is refused and recorded.
    await page.route("**/*", (route) => {
      if (route.request().url().startsWith(server.url)) return route.continue();
      outside.push(route.request().url());
      return route.abort();
    });
  });

  after(async () => {
    await browser?.close();
    if (server?.child.exitCode === null) server.child.kill("SIGKILL");
    delete process.env.PATCHLAB_REPORTS_DIR;
    if (root) fs.rmSync(root, { recursive: true, force: true });
    console.log(`      timings: ${JSON.stringify(timings)}`);
  });

  it("the overview opens on the batch and its verdicts, with a trend of the two runs", async () => {
    await page.goto(server.url);
    await expect(await page.locator(".widget", { hasText: "test cases" }).first().innerText()).to.contain("patchlab: demo: 1 rejected, 1 approved");
    const environment = await page.locator(".widget", { hasText: "Environment" }).first().innerText();
    expect(environment).to.match(/batch\s+demo/).and.match(/patches\s+PL-DEMO-0001, PL-DEMO-0002/);
    const trend = page.locator(".widget", { hasText: "Trend" }).first();
    await trend.locator(".chart__axis_x .tick").first().waitFor();
    expect(await trend.locator(".chart__axis_x .tick text").allTextContents()).to.deep.equal(["#1", "#2"]);
  });

  it("each patch's feature opens on its gate decision: PL-DEMO-0001 approved, PL-DEMO-0002 rejected with the reason", async () => {
    await page.goto(`${server.url}#behaviors`);
    const epic = await open(group(page, "demo"));
    expect(await childNames(epic)).to.deep.equal(["PL-DEMO-0001", "PL-DEMO-0002"]);
    const verdicts: Record<string, string> = {};
    for (const patch of ["PL-DEMO-0001", "PL-DEMO-0002"]) {
      const feature = await open(group(epic, patch));
      const stories = await childNames(feature);
      expect(stories[0], `first story of ${patch}`).to.equal("0 gate decision");
      expect(stories).to.include.members(["1 baseline", "2 install", "4 post-install", "7 uninstall", "8 post-uninstall", "9 restore"]);
      const decision = await open(group(feature, "0 gate decision"));
      await decision.locator(".node__leaf, .node__title").last().click();
      const pane = page.locator(".side-by-side__right");
      await pane.locator(".test-result__name").waitFor();
      verdicts[patch] = `${await pane.locator(".test-result__status").innerText()} | ${await pane.locator(".test-result__name").innerText()}`;
      if (patch === "PL-DEMO-0002") {
        expect(await pane.locator(".status-details__message").first().innerText()).to.contain("Gate: rejected").and.contain("regression: web role > web serves its home page over HTTP [web/post-install]");
        const hrefs = await pane.locator("a[href*='security-tracker.debian.org']").evaluateAll((as) => as.map((a) => (a as HTMLAnchorElement).href));
        expect(hrefs).to.deep.equal(CVES.map((c) => `https://security-tracker.debian.org/tracker/${c}`));
        // Who to ask: the owner of the machine that verified it, from the lab file.
        expect(await pane.innerText()).to.contain("Web team (web-team@corp.example)");
      }
    }
    expect(verdicts["PL-DEMO-0001"]).to.match(/^Passed \| APPROVED: PL-DEMO-0001 /);
    expect(verdicts["PL-DEMO-0002"]).to.match(/^Failed \| REJECTED: PL-DEMO-0002 /);
  });

  it("a failed check carries its evidence as an attachment, not in the stack trace", async () => {
    await page.goto(`${server.url}#behaviors`);
    const feature = await open(group(await open(group(page, "demo")), "PL-DEMO-0002"));
    const postInstall = await open(group(feature, "4 post-install"));
    await postInstall.locator(".node__title", { hasText: "web serves its home page over HTTP" }).click();
    const pane = page.locator(".side-by-side__right");
    expect(await pane.locator(".test-result__status").innerText()).to.equal("Failed");
    const row = pane.locator(".attachment-row", { hasText: "log sample: web:/var/log/nginx/error.log" });
    // A failed result may open with its body folded.
    if (!(await row.isVisible())) await pane.getByText("Test body").click();
    await row.click();
    const content = pane.locator(".attachment-row__content");
    await content.getByText("php8.2-fpm.sock failed").waitFor();
    expect(await content.innerText()).to.contain("upstream prematurely closed connection");
    expect(await pane.locator(".status-details__trace").first().textContent()).to.not.contain("php8.2-fpm.sock");
  });

  it("the check's own history shows the previous run", async () => {
    const pane = page.locator(".side-by-side__right");
    await pane.locator(".tab", { hasText: "History" }).click();
    await pane.getByText(/Success rate/).waitFor();
    expect(await pane.innerText()).to.match(/Success rate\s+0% \(0 of 2\)/);
  });

  it("loaded nothing from outside 127.0.0.1", () => {
    expect(outside).to.deep.equal([]);
  });

  it("`report --open` stops on Ctrl-C with exit 0", async () => {
    const exited = new Promise<number | null>((resolve) => server.child.once("exit", (code) => resolve(code)));
    server.child.kill("SIGINT");
    expect(await exited, server.output()).to.equal(0);
    const refused = await fetch(server.url).then(() => false, () => true);
    expect(refused).to.equal(true);
  });
});
