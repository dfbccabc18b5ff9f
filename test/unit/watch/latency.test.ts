// Latency against the baseline: slower past BOTH the factor and the absolute margin is a
// finding even when the check passed; noise on fast checks is not.
import { expect } from "chai";
import { compareProbes, latencyFindings, probeOutcomes, type ProbeObservation } from "../../../harness/watch/latency.ts";
import { defaultWatchPolicy } from "../../../harness/watch/policy.ts";
import type { TestOutcome } from "../../../harness/report/outcome-model.ts";

const policy = defaultWatchPolicy();
const o = (name: string, latencyMs: number | undefined, status: TestOutcome["status"] = "passed"): TestOutcome => ({ name, status, durationMs: 10, ...(latencyMs !== undefined ? { latencyMs } : {}) });

describe("watch: latency vs baseline", () => {
  it("a passing check x3 and +500 ms slower is a finding", () => {
    const f = latencyFindings([o("web role > home page", 40)], [o("web role > home page", 900)], policy);
    expect(f).to.have.length(1);
    expect(f[0]).to.include({ watcher: "latency", severity: "error", rejects: true, title: "slower answers: web role > home page" });
    expect(f[0]!.message).to.match(/answered in 900 ms, baseline 40 ms \(x22\.5, \+860 ms/);
    expect(f[0]!.message).to.include("the check itself passed");
  });

  it("needs both the factor and the margin", () => {
    expect(latencyFindings([o("a", 2)], [o("a", 30)], policy)).to.deep.equal([]); // x15 but +28 ms
    expect(latencyFindings([o("a", 1000)], [o("a", 2000)], policy)).to.deep.equal([]); // +1000 ms but x2
    expect(latencyFindings([o("a", 1000)], [o("a", 3000)], policy)).to.have.length(1);
  });

  it("ignores failed checks (the suites report those), checks without latency and checks new in the phase", () => {
    expect(latencyFindings([o("a", 10)], [o("a", 5000, "failed")], policy)).to.deep.equal([]);
    expect(latencyFindings([o("a", undefined)], [o("a", 5000)], policy)).to.deep.equal([]);
    expect(latencyFindings([], [o("new", 5000)], policy)).to.deep.equal([]);
    expect(latencyFindings([o("a", 10, "failed")], [o("a", 5000)], policy)).to.deep.equal([]);
  });

  it("probe series become outcomes: median latency, failed when any probe failed", () => {
    const obs: ProbeObservation = {
      watcher: "latency", version: 1, machine: "web", durationMs: 3000,
      probes: [
        { name: "probe web: http GET /healthz answering", samples: [{ t: 0, ms: 5, ok: true }, { t: 1, ms: 7, ok: true }, { t: 2, ms: 900, ok: true }] },
        { name: "probe web: tcp/80 accepting", samples: [{ t: 0, ms: 1, ok: true }, { t: 1, ms: 1, ok: false }] },
      ],
    };
    const out = probeOutcomes(obs);
    expect(out[0]).to.include({ status: "passed", latencyMs: 7 });
    expect(out[1]).to.include({ status: "failed", message: "1 of 2 probes failed" });
  });

  it("compareProbes: slower probes and probes that stopped answering are findings, with a chart", () => {
    const mk = (ms: number, ok = true): ProbeObservation => ({
      watcher: "latency", version: 1, machine: "web", durationMs: 3000,
      probes: [{ name: "probe web: http GET /healthz answering", samples: [0, 1, 2].map((t) => ({ t, ms, ok })) }],
    });
    const slow = compareProbes(mk(4), mk(1400), policy, "post-install");
    expect(slow.map((f) => f.title)).to.deep.equal(["slower answers: probe web: http GET /healthz answering"]);
    expect(slow[0]!.evidence.map((e) => e.contentType)).to.deep.equal(["text/plain", "image/svg+xml"]);
    const dead = compareProbes(mk(4), mk(2000, false), policy);
    expect(dead.map((f) => f.title)).to.deep.equal(["stopped answering: probe web: http GET /healthz answering"]);
    expect(compareProbes(mk(4), mk(6), policy)).to.deep.equal([]);
  });
});
