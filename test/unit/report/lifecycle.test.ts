import { expect } from "chai";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { writeLifecycleResult } from "../../../harness/report/lifecycle.ts";
import { readAllureOutcomes } from "../../../harness/report/allure-read.ts";
import { fingerprintDiffAttachment, logSampleAttachment, textAttachment } from "../../../harness/report/attachments.ts";
import { runLabels } from "../../../harness/report/labels.ts";

type Result = { uuid: string; name: string; status: string; historyId: string; start: number; stop: number; statusDetails: { message?: string; trace?: string }; attachments: { name: string; source: string; type: string }[]; links: { name?: string; url: string; type?: string }[]; steps: { name: string; status: string }[]; labels: { name: string; value: string }[] };

describe("report: lifecycle steps as Allure results", () => {
  let dir: string;
  const read = (uuid: string): Result => JSON.parse(fs.readFileSync(path.join(dir, `${uuid}-result.json`), "utf8"));
  const label = (r: Result, name: string) => r.labels.filter((l) => l.name === name).map((l) => l.value);
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "patchlab-lifecycle-"));
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it("writes an Allure 2 result with uuid, historyId, status, timing, message and labels", () => {
    const uuid = writeLifecycleResult(dir, { name: "install nginx", phase: "install", patch: "nginx-1.22.1", machine: "web", status: "failed", message: "dpkg: error processing package nginx", output: "full dpkg output", start: 1000, stop: 4000 });
    const r = read(uuid);
    expect(r).to.include({ uuid, name: "install nginx", status: "failed", start: 1000, stop: 4000 });
    expect(r.historyId).to.be.a("string").and.not.equal("");
    // Installer output is evidence, attached; the trace is for stacks.
    expect(r.statusDetails).to.deep.equal({ message: "dpkg: error processing package nginx" });
    expect(r.attachments.map((a) => [a.name, a.type])).to.deep.equal([["install output", "text/plain"]]);
    expect(fs.readFileSync(path.join(dir, r.attachments[0]!.source), "utf8")).to.equal("full dpkg output");
    expect(label(r, "parentSuite")).to.deep.equal(["nginx-1.22.1"]);
    expect(label(r, "feature")).to.deep.equal(["nginx-1.22.1"]);
    expect(label(r, "story")).to.deep.equal(["2 install"]);
    expect(label(r, "phase")).to.deep.equal(["install"]);
    expect(label(r, "patch")).to.deep.equal(["nginx-1.22.1"]);
    expect(label(r, "machine")).to.deep.equal(["web"]);
    expect(label(r, "host")).to.deep.equal(["web"]);
  });

  it("gives the same step a stable historyId across runs and different ones per machine", () => {
    const a = read(writeLifecycleResult(dir, { phase: "install", patch: "p", machine: "web", status: "passed", start: 1, stop: 2 }));
    const b = read(writeLifecycleResult(dir, { phase: "install", patch: "p", machine: "web", status: "passed", start: 5, stop: 6 }));
    const c = read(writeLifecycleResult(dir, { phase: "install", patch: "p", machine: "db", status: "passed", start: 5, stop: 6 }));
    expect(a.historyId).to.equal(b.historyId);
    expect(a.historyId).to.not.equal(c.historyId);
    expect(a.name).to.equal("install p");
  });

  it("accepts step records as the orchestrator keeps them (step instead of phase, no patch)", () => {
    const r = read(writeLifecycleResult(dir, { step: "restore", machine: "web", status: "broken", message: "restore failed", start: 1, stop: 2, runId: "r1", lab: "reference" }));
    expect(r).to.include({ name: "restore", status: "broken" });
    expect(label(r, "run")).to.deep.equal(["r1"]);
    expect(label(r, "patch")).to.deep.equal([]);
  });

  it("is read back by the same reader the suite runner uses", () => {
    writeLifecycleResult(dir, { phase: "uninstall", patch: "p", machine: "web", status: "failed", message: "prerm failed", start: 10, stop: 30 });
    expect(readAllureOutcomes(dir, { phase: "uninstall" })).to.deep.equal([{ name: "uninstall p", status: "failed", message: "prerm failed", durationMs: 20 }]);
  });

  it("puts fingerprint diffs and log samples in attachments, never in the trace", () => {
    const r = read(writeLifecycleResult(dir, {
      step: "restore", machine: "web", status: "broken", message: "restore not exact: package nginx: 1.22.1-9 -> 1.22.1-9+deb12u2",
      start: 1, stop: 2,
      attachments: [fingerprintDiffAttachment({ differences: ["package nginx: 1.22.1-9 -> 1.22.1-9+deb12u2", "file /etc/nginx/nginx.conf: changed"] }), logSampleAttachment("web:/var/log/dpkg.log", ["a", "b"])],
    }));
    expect(r.statusDetails.trace).to.equal(undefined);
    expect(r.attachments.map((a) => a.name)).to.deep.equal(["fingerprint diff", "log sample: web:/var/log/dpkg.log"]);
    expect(r.attachments[0]!.source).to.match(/\.diff$/);
    expect(fs.readFileSync(path.join(dir, r.attachments[0]!.source), "utf8")).to.equal("package nginx: 1.22.1-9 -> 1.22.1-9+deb12u2\nfile /etc/nginx/nginx.conf: changed\n");
    expect(fs.readFileSync(path.join(dir, r.attachments[1]!.source), "utf8")).to.equal("a\nb\n");
  });

  it("keeps the end of runaway installer output, saying how much was cut", () => {
    const a = textAttachment("install output", "x".repeat(1000) + "dpkg: error at the end", 100);
    const text = a.content.toString("utf8");
    expect(text).to.match(/^\[\.\.\. first \d+ bytes cut \.\.\.\]\n/).and.match(/dpkg: error at the end$/);
    expect(Buffer.byteLength(text.split("\n")[1]!)).to.equal(100);
  });

  it("takes runLabels(): epic, feature per patch, story, severity, owner and advisory/CVE links", () => {
    const r = read(writeLifecycleResult(dir, {
      phase: "install", patch: "DSA-5678-1", machine: "web", status: "passed", start: 1, stop: 2,
      ...runLabels({ batch: "monthly", patches: [{ id: "DSA-5678-1", severity: "critical", advisory: "https://www.debian.org/security/2024/dsa-5678", cves: ["CVE-2024-1111"] }], machine: { name: "web", owner: { name: "Web team", contact: "web@corp.example" } }, phase: "install" }),
    }));
    expect(label(r, "epic")).to.deep.equal(["monthly"]);
    expect(label(r, "feature")).to.deep.equal(["DSA-5678-1"]);
    expect(label(r, "story")).to.deep.equal(["2 install"]);
    expect(label(r, "severity")).to.deep.equal(["blocker"]);
    expect(label(r, "owner")).to.deep.equal(["Web team (web@corp.example)"]);
    expect(label(r, "host")).to.deep.equal(["web"]);
    expect(r.links).to.deep.equal([
      { name: "advisory DSA-5678-1", url: "https://www.debian.org/security/2024/dsa-5678", type: "link" },
      { name: "CVE-2024-1111", url: "https://security-tracker.debian.org/tracker/CVE-2024-1111", type: "issue" },
    ]);
  });
});
