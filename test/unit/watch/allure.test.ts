// Watcher results in the Allure results: charts and sample lines attached to each finding.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { expect } from "chai";
import { writeWatchAllure } from "../../../harness/watch/allure.ts";
import type { CheckResult } from "../../../harness/watch/evidence.ts";

describe("watch: Allure results", () => {
  it("one result per watcher, failed when a finding rejects, with each finding a step and its evidence attached", () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "patchlab-watch-allure-"));
    const r: CheckResult = {
      name: "counters", machine: "web", phase: "post-install", note: "6 samples",
      findings: [
        { watcher: "counters", severity: "error", rejects: true, title: "CPU use above baseline", message: "median CPU 97%", evidence: [{ name: "CPU chart", contentType: "image/svg+xml", body: "<svg xmlns=\"http://www.w3.org/2000/svg\"></svg>" }] },
        { watcher: "logs", severity: "error", rejects: true, title: "new error lines in container: x", message: "3 lines", evidence: [{ name: "log signature (container)", contentType: "text/plain", body: "sample lines:\n  x ERROR 1\n" }] },
      ],
    };
    writeWatchAllure(dir, r, { patch: "PL-1", runId: "r1", lab: "reference", start: 1000, stop: 5000 });
    const files = fs.readdirSync(dir);
    const result = JSON.parse(fs.readFileSync(path.join(dir, files.find((f) => f.endsWith("-result.json"))!), "utf8"));
    expect(result.status).to.equal("failed");
    expect(result.name).to.equal("watch counters (post-install)");
    expect(result.statusDetails.message).to.include("CPU use above baseline: median CPU 97%");
    expect(result.steps.map((s: { name: string }) => s.name)).to.deep.equal(["error (rejects): CPU use above baseline", "error (rejects): new error lines in container: x"]);
    expect(result.labels).to.deep.include({ name: "machine", value: "web" });
    const att = result.attachments as { name: string; source: string; type: string }[];
    expect(att.map((a) => [a.name, a.type])).to.deep.equal([["CPU use above baseline: CPU chart", "image/svg+xml"], ["new error lines in container: x: log signature (container)", "text/plain"]]);
    expect(fs.readFileSync(path.join(dir, att[0]!.source), "utf8")).to.match(/^<svg/);
    expect(fs.readFileSync(path.join(dir, att[1]!.source), "utf8")).to.include("x ERROR 1");
    fs.rmSync(dir, { recursive: true });
  });

  it("broken when the watcher could not observe; passed with no rejecting finding", () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "patchlab-watch-allure-"));
    writeWatchAllure(dir, { name: "logs", machine: "web", phase: "soak", findings: [], error: "engine logs failed" }, { start: 1, stop: 2 });
    writeWatchAllure(dir, { name: "latency", machine: "web", phase: "soak", findings: [] }, { start: 1, stop: 2 });
    const results = fs.readdirSync(dir).filter((f) => f.endsWith("-result.json")).map((f) => JSON.parse(fs.readFileSync(path.join(dir, f), "utf8")));
    expect(results.map((x) => `${x.name}: ${x.status}`).sort()).to.deep.equal(["watch latency (soak): passed", "watch logs (soak): broken"]);
    fs.rmSync(dir, { recursive: true });
  });
});
