import { expect } from "chai";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { ALLURE_SEVERITY, applyMeta, cveUrl, runLabels, stageTitle, suiteLabels } from "../../../harness/report/labels.ts";
import { runSuite } from "../../../harness/run/mocha-runner.ts";
import type { SuiteContext } from "../../../harness/run/suite-context.ts";

const web = { name: "web", owner: { name: "Web team", contact: "web-team@corp.example" } };
const good = { id: "PL-DEMO-0001", severity: "moderate" as const };
const dsa = { id: "DSA-5678-1", severity: "critical" as const, advisory: "https://www.debian.org/security/2024/dsa-5678", cves: ["CVE-2024-1111", "CVE-2024-2222"] };

describe("report: labels every result carries", () => {
  it("maps Debian's severities onto Allure's scale", () => {
    expect(ALLURE_SEVERITY).to.deep.equal({ critical: "blocker", important: "critical", moderate: "normal", low: "minor" });
  });

  it("runLabels: epic = batch, feature = patch, story = phase, host = machine, severity, owner", () => {
    const { labels, meta } = runLabels({ batch: "monthly-2026-11", patches: [dsa], machine: web, phase: "post-install" });
    expect(labels).to.include({ epic: "monthly-2026-11", story: "4 post-install", host: "web", machine: "web", phase: "post-install", severity: "blocker", owner: "Web team (web-team@corp.example)", patch: "DSA-5678-1" });
    expect(meta.labels).to.deep.equal([
      { name: "feature", value: "DSA-5678-1" },
      { name: "parentSuite", value: "DSA-5678-1" },
    ]);
  });

  it("links the advisory and each CVE to Debian's tracker (links only)", () => {
    const { meta } = runLabels({ batch: "b", patches: [dsa], machine: web, phase: "install" });
    expect(meta.links).to.deep.equal([
      { name: "advisory DSA-5678-1", url: "https://www.debian.org/security/2024/dsa-5678", type: "link" },
      { name: "CVE-2024-1111", url: "https://security-tracker.debian.org/tracker/CVE-2024-1111", type: "issue" },
      { name: "CVE-2024-2222", url: "https://security-tracker.debian.org/tracker/CVE-2024-2222", type: "issue" },
    ]);
    expect(cveUrl("CVE-2024-1111")).to.equal("https://security-tracker.debian.org/tracker/CVE-2024-1111");
  });

  it("a baseline serving two patches belongs to both features, with the most severe severity and both patches' links", () => {
    const { labels, meta } = runLabels({ batch: "b", patches: [good, dsa], machine: web, phase: "baseline" });
    expect(labels.severity).to.equal("blocker");
    expect(meta.labels.filter((l) => l.name === "feature").map((l) => l.value)).to.deep.equal(["PL-DEMO-0001", "DSA-5678-1"]);
    expect(meta.links.map((l) => l.name)).to.deep.equal(["advisory DSA-5678-1", "CVE-2024-1111", "CVE-2024-2222"]);
  });

  it("a patch without severity, advisory or CVEs and a machine without owner get no such labels or links", () => {
    const { labels, meta } = runLabels({ batch: "b", patches: [{ id: "p" }], machine: { name: "db" }, phase: "restore" });
    expect(labels).to.not.have.any.keys("severity", "owner");
    expect(meta.links).to.deep.equal([]);
  });

  it("story and suite names sort in lifecycle order, the gate decision first (the report sorts by name)", () => {
    const phases = ["pipeline", "restore", "post-uninstall", "uninstall", "soak", "idempotence", "post-install", "restart", "install", "baseline", "gate decision", "something-new"];
    // The UI compares lower-cased names with `<`: the same as a plain sort here.
    expect(phases.map(stageTitle).sort()).to.deep.equal(["0 gate decision", "1 baseline", "2 install", "3 restart", "4 post-install", "5 idempotence", "6 soak", "7 uninstall", "8 post-uninstall", "9 restore", "9.1 pipeline", "9.9 something-new"]);
  });

  it("applyMeta replaces same-name labels and adds each link once", () => {
    const r = { labels: [{ name: "feature", value: "A, B" }, { name: "host", value: "web" }], links: [{ url: "https://x/1" }] };
    applyMeta(r, { labels: [{ name: "feature", value: "A" }, { name: "feature", value: "B" }], links: [{ url: "https://x/1" }, { url: "https://x/2" }] });
    expect(r.labels).to.deep.equal([{ name: "host", value: "web" }, { name: "feature", value: "A" }, { name: "feature", value: "B" }]);
    expect(r.links.map((l) => l.url)).to.deep.equal(["https://x/1", "https://x/2"]);
  });

  describe("through the real suite runner", function () {
    this.timeout(60_000);
    let dir: string;
    before(() => {
      dir = fs.mkdtempSync(path.join(os.tmpdir(), "patchlab-labels-"));
    });
    after(() => fs.rmSync(dir, { recursive: true, force: true }));

    it("every result of a suite run carries the labels, one feature per patch, and the links", async () => {
      const spec = path.join(dir, "sample.spec.ts");
      fs.writeFileSync(spec, `describe("web role", () => { it("passes", () => {}); it("fails", () => { throw Object.assign(new Error("status 502"), { name: "AssertionError" }); }); });`);
      const context: SuiteContext = {
        runId: "r1",
        phase: "baseline",
        patches: ["PL-DEMO-0001", "DSA-5678-1"],
        lab: { name: "reference", domain: "lab.test", subnet: "172.30.77.0/24" },
        target: { name: "web", container: "c-web", ip: "172.30.77.10", fqdn: "web.lab.test", roles: ["web"] },
        machines: {},
        client: { name: "client", container: "c-client" },
        caCertPath: "/tmp/ca.pem",
      };
      expect(suiteLabels(context, "web")).to.include({ story: "1 baseline", suite: "1 baseline", subSuite: "web", host: "web", feature: "PL-DEMO-0001, DSA-5678-1" });
      const results = path.join(dir, "results");
      const r = await runSuite({ suite: spec, context, resultsDir: results, junitFile: path.join(dir, "j.xml"), timeoutMs: 30_000, retries: 0, ...runLabels({ batch: "monthly", patches: [good, dsa], machine: web, phase: "baseline" }) });
      expect(r.tests.map((t) => t.status)).to.deep.equal(["passed", "failed"]);
      const files = fs.readdirSync(results).filter((f) => f.endsWith("-result.json")).map((f) => JSON.parse(fs.readFileSync(path.join(results, f), "utf8")) as { labels: { name: string; value: string }[]; links: { url: string }[] });
      expect(files).to.have.length(2);
      for (const f of files) {
        const label = (n: string) => f.labels.filter((l) => l.name === n).map((l) => l.value);
        expect(label("epic")).to.deep.equal(["monthly"]);
        expect(label("feature")).to.deep.equal(["PL-DEMO-0001", "DSA-5678-1"]);
        expect(label("parentSuite")).to.deep.equal(["PL-DEMO-0001", "DSA-5678-1"]);
        expect(label("story")).to.deep.equal(["1 baseline"]);
        expect(label("host")).to.deep.equal(["web"]);
        expect(label("severity")).to.deep.equal(["blocker"]);
        expect(label("owner")).to.deep.equal(["Web team (web-team@corp.example)"]);
        expect(f.links.map((l) => l.url)).to.include("https://security-tracker.debian.org/tracker/CVE-2024-2222");
      }
    });
  });
});
