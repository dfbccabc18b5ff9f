// The bench's reading of a run (test/bench/breakdown.ts): phases per machine from records,
// machine logs and run.json; the install cycles the raw runners must repeat; the raw scripts'
// timing lines. A wrong reading would compare patchlab with the wrong raw work.
import { expect } from "chai";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { breakdownRun, installCycles, rawProbes, rawTimings } from "../bench/breakdown.ts";

describe("bench breakdown", () => {
  let dir: string;
  const tests = (ms: number[]) => ({ suite: "web", crashed: false, detail: "", tests: ms.map((d, i) => ({ name: `t${i}`, status: "passed", durationMs: d })) });
  before(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "patchlab-breakdown-"));
    fs.mkdirSync(path.join(dir, "logs"));
    fs.writeFileSync(path.join(dir, "run.json"), JSON.stringify({ steps: [{ step: "lab-up", status: "started" }, { step: "lab-up", status: "passed", durationMs: 400 }] }));
    const rec = [
      { type: "suite", machine: "web", phase: "baseline", result: tests([300, 200]) },
      { type: "step", machine: "web", patch: "A", group: ["A", "B"], step: "install", status: "passed", message: "", start: 2_100, stop: 2_300 },
      // Another machine worked on at the same time: its records interleave.
      { type: "step", machine: "dns", patch: "C", step: "install", status: "passed", message: "", start: 2_250, stop: 2_260 },
      { type: "step", machine: "web", patch: "B", group: ["A", "B"], step: "install", status: "passed", message: "", start: 2_300, stop: 2_400 },
      { type: "suite", machine: "web", phase: "post-install", group: ["A", "B"], result: tests([400]) },
      { type: "step", machine: "web", patch: "B", group: ["A", "B"], step: "uninstall", status: "passed", message: "", start: 3_500, stop: 3_600 },
      { type: "step", machine: "web", patch: "A", group: ["A", "B"], step: "uninstall", status: "passed", message: "", start: 3_600, stop: 3_700 },
      { type: "suite", machine: "web", phase: "post-uninstall", group: ["A", "B"], result: tests([450]) },
      { type: "step", machine: "web", group: ["A", "B"], step: "restore", status: "passed", message: "", start: 4_800, stop: 5_300 },
      { type: "step", machine: "web", patch: "A", step: "install", status: "passed", message: "", start: 5_400, stop: 5_500 },
      { type: "step", machine: "web", patch: "B", step: "install", status: "passed", message: "", start: 6_000, stop: 6_100 },
      { type: "step", machine: "web", step: "pipeline", status: "passed", message: "", start: 1_000, stop: 6_200 },
    ];
    fs.writeFileSync(path.join(dir, "records.jsonl"), rec.map((r) => JSON.stringify(r)).join("\n") + "\n");
    const log = [
      { time: 1_150, msg: "state before" },
      { time: 2_000, msg: "suite roles/web baseline" },
      { time: 3_400, msg: "suite roles/web post-install" },
      { time: 3_420, msg: "log watch observed" },
      { time: 3_450, msg: "counter watch observed" },
      { time: 4_700, msg: "suite roles/web post-uninstall" },
    ];
    fs.writeFileSync(path.join(dir, "logs", "web.log"), log.map((l) => JSON.stringify(l)).join("\n") + "\n");
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  it("attributes every interval (watchers reporting after their suite: watch windows) of a machine's pipeline to a phase, and sums the checks' own time", () => {
    const b = breakdownRun(dir);
    expect(b.labUpMs).to.equal(400);
    const web = b.machines[0]!;
    expect(web.wallMs).to.equal(5_200);
    expect(web.phases).to.deep.include({ "snapshot+state": 150, baseline: 850, "post-install": 1_000, "watch windows+soak": 50, "post-uninstall": 1_000, "restore+state": 500, uninstall: 200 });
    expect(web.phases.install).to.equal(200 + 100 + 100 + 100);
    expect(web.checksMs).to.deep.equal({ baseline: 500, "post-install": 400, "post-uninstall": 450 });
    expect(web.suiteRuns).to.deep.equal({ baseline: 1, "post-install": 1, "post-uninstall": 1 });
    // Nothing lost: the phases add up to the pipeline's wall time.
    expect(Object.values(web.phases).reduce((a, x) => a + (x ?? 0), 0)).to.equal(web.wallMs);
  });

  it("reads the install cycles: a chained group is one cycle (also when other machines' records interleave), singles follow", () => {
    expect(installCycles(dir).get("web")).to.deep.equal([["A", "B"], ["A"], ["B"]]);
    expect(installCycles(dir).get("dns")).to.deep.equal([["C"]]);
  });

  it("reads the raw scripts' timing and probe lines", () => {
    const out = "T web snapshot 80\nP web baseline 7 0\nT web install 200\nnoise\nT web install 300\nP web post-install 5 2\n";
    expect(rawTimings(out).get("web")).to.deep.equal({ snapshot: 80, install: 500 });
    expect(rawProbes(out)).to.deep.equal([{ machine: "web", phase: "baseline", passed: 7, failed: 0 }, { machine: "web", phase: "post-install", passed: 5, failed: 2 }]);
  });
});
