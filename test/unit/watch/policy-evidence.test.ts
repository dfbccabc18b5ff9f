// The watch policy file (zod is the truth; bad input names file, field and remedy), gate
// evidence from watcher results (pure), the CI summary and the SVG charts.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { expect } from "chai";
import { ConfigErrors } from "../../../harness/core/errors.ts";
import { WatchEvidence } from "../../../harness/gate/schema.ts";
import { svgLineChart } from "../../../harness/watch/chart.ts";
import { summaryText, toWatchEvidence, type CheckResult } from "../../../harness/watch/evidence.ts";
import { defaultWatchPolicy, errorPatternFor, loadWatchPolicy } from "../../../harness/watch/policy.ts";
import type { Finding } from "../../../harness/watch/types.ts";

const finding = (o: Partial<Finding> = {}): Finding => ({ watcher: "counters", severity: "error", rejects: true, title: "CPU use above baseline", message: "median CPU 97% of one core, baseline 1%", evidence: [], ...o });

describe("watch: policy file", () => {
  it("lab-config/policies/watch.yaml loads and matches the defaults it documents", async () => {
    const p = await loadWatchPolicy("watch");
    const d = defaultWatchPolicy();
    expect(p.name).to.equal("watch");
    expect({ ...p, name: d.name, description: undefined }).to.deep.equal({ ...d, description: undefined });
  });

  it("a bad policy is a ConfigError naming the file, the fields and what is wrong, all at once", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "patchlab-policy-"));
    const file = path.join(dir, "bad.yaml");
    fs.writeFileSync(file, "name: bad\nlogs:\n  errorPattern: '(unclosed'\ncounters:\n  cpu: { medianIncreasePoints: -5 }\n  bogus: 1\nwindow: { seconds: 2, sampleSeconds: 5 }\n");
    let err: unknown;
    await loadWatchPolicy(file).catch((e) => (err = e));
    expect(err).to.be.instanceOf(ConfigErrors);
    const text = (err as ConfigErrors).describe();
    expect(text).to.include("bad.yaml:3");
    expect(text).to.match(/logs\.errorPattern: must be a valid regular expression/);
    expect(text).to.match(/counters\.cpu\.medianIncreasePoints/);
    expect(text).to.match(/bogus/);
    expect(text).to.match(/sampleSeconds 5 is longer than the window/);
    fs.rmSync(dir, { recursive: true });
  });

  it("the error-level pattern is the role's own when the policy has one", () => {
    const p = defaultWatchPolicy();
    p.logs.roles.db = { errorPattern: "^FATAL" };
    expect(errorPatternFor(p, ["db"]).test("FATAL: x")).to.equal(true);
    expect(errorPatternFor(p, ["db"]).test("ERROR x")).to.equal(false);
    expect(errorPatternFor(p, ["web"]).test("[error] x")).to.equal(true);
  });
});

describe("watch: gate evidence and summary", () => {
  const r: CheckResult = { name: "counters", machine: "web", phase: "post-install", findings: [finding(), finding({ severity: "warning", rejects: false, title: "open files grew", message: "x" })], note: "6 samples" };

  it("toWatchEvidence gives the gate's WatchEvidence shape, findings without attachments", () => {
    const e = toWatchEvidence(r);
    expect(WatchEvidence.parse(e)).to.deep.equal(e);
    expect(e).to.deep.include({ kind: "watch", machine: "web", phase: "post-install", name: "counters", status: "passed", message: "2 finding(s), 1 rejecting; 6 samples" });
    expect(e.findings[0]).to.deep.equal({ title: "CPU use above baseline", severity: "error", rejects: true, message: "median CPU 97% of one core, baseline 1%" });
  });

  it("a watcher that could not observe is broken evidence with no findings, never passed", () => {
    const e = toWatchEvidence({ ...r, error: "engine stats of web failed" });
    expect(e).to.deep.include({ status: "broken", message: "could not observe: engine stats of web failed", findings: [] });
    expect(() => toWatchEvidence({ ...r, phase: "watch" })).to.throw();
  });

  it("summaryText: one block per machine and phase, one line per finding, broken watchers named", () => {
    const text = summaryText([r, { name: "logs", machine: "web", phase: "post-install", findings: [], error: "machine stopped" }, { name: "logs", machine: "db", phase: "post-install", findings: [] }]);
    expect(text).to.include("watch web post-install: could not observe with logs (counters, logs)");
    expect(text).to.include("  [error, rejects] counters: CPU use above baseline\n      median CPU 97% of one core, baseline 1%");
    expect(text).to.include("  [warning] counters: open files grew");
    expect(text).to.include("  [broken] logs: machine stopped");
    expect(text).to.include("watch db post-install: no finding (logs)");
  });
});

describe("watch: SVG chart", () => {
  it("draws both series, a legend, the threshold and escapes text", () => {
    const svg = svgLineChart(
      [
        { name: "baseline", points: [[0, 1], [1, 2], [2, 1]], dashed: true },
        { name: "post-install <b>", points: [[0, 90], [1, 97], [2, 99]] },
      ],
      { title: "CPU on web & co", yLabel: "% of one core", marks: [{ y: 21, label: "threshold" }] },
    );
    expect(svg.startsWith("<svg xmlns=\"http://www.w3.org/2000/svg\"")).to.equal(true);
    expect(svg.trim().endsWith("</svg>")).to.equal(true);
    expect(svg.match(/<path /g)).to.have.length(2);
    expect(svg).to.include("stroke-dasharray=\"6 4\"");
    expect(svg).to.include("CPU on web &amp; co");
    expect(svg).to.include("post-install &lt;b&gt;");
    expect(svg).to.include(">threshold<");
    expect(svg).to.not.include("NaN");
  });

  it("copes with empty and flat series", () => {
    const svg = svgLineChart([{ name: "a", points: [] }, { name: "b", points: [[0, 5], [3, 5]] }], { title: "t", yLabel: "y" });
    expect(svg).to.not.include("NaN");
    expect(svg).to.not.include("Infinity");
  });
});
