// The whole per-machine flow the pipeline calls (baseline -> phase -> soak), with this host as
// the "machine" (commands run through sh here; a steady process table) and a fake engine whose
// CPU and log lines the test controls. Shows the window covers the phase's work (`during`)
// and that the same machine observed twice gives no finding.
import { expect } from "chai";
import { nullLogger } from "../../../harness/core/log.ts";
import { defaultWatchPolicy, machineWatch, toWatchEvidence } from "../../../harness/watch/index.ts";
import type { EngineProbe } from "../../../harness/watch/types.ts";
import { SAMPLER_SCRIPT } from "../../../harness/watch/sampler.ts";
import type { ExecResult } from "../../../harness/lab/types.ts";
import { LocalConnection, machine } from "./helpers.ts";

/** This host, but with a steady process table: the host's own processes come and go with other work. */
class SteadyHost extends LocalConnection {
  override async exec(cmd: string | string[]): Promise<ExecResult> {
    if (Array.isArray(cmd) && cmd[2] === SAMPLER_SCRIPT) {
      return { exitCode: 0, stdout: "F 30\nH 100\nP 1 0 5 1 1000 1 tini\nP 7 1 6 0 1500 1 patchlab-init\nP 30 1 9 3 9000 1 nginx\nP 31 30 9 3 7000 1 nginx\nC 2000000\n", stderr: "", durationMs: 5 };
    }
    return super.exec(cmd);
  }
}

function fakeEngine(): EngineProbe & { cpuPct: number; log(line: string): void } {
  let cpuNs = 0;
  let last = Date.now();
  const e = {
    cpuPct: 1,
    logged: [] as { at: number; line: string }[],
    log(line: string) {
      e.logged.push({ at: Date.now(), line });
    },
    async stats() {
      const now = Date.now();
      cpuNs += ((now - last) / 1000) * (e.cpuPct / 100) * 1e9;
      last = now;
      return { at: now, cpuNs, memBytes: 50 << 20 };
    },
    async diskBytes() {
      return 120 << 20;
    },
    async logs(from: number, to: number) {
      return e.logged.filter((l) => l.at >= from && l.at <= to).map((l) => ({ ...l, stream: "stdout" as const }));
    },
  };
  return e;
}

describe("watch: one machine's watchers, end to end on this host", function () {
  this.timeout(20_000);
  const policy = defaultWatchPolicy();
  policy.window = { seconds: 0.6, sampleSeconds: 0.5 };

  it("baseline then phase: quiet gives no finding; a CPU jump and new error lines are named; the window covers `during`", async () => {
    const engine = fakeEngine();
    const w = machineWatch({ machine: machine(["client"]), conn: new SteadyHost(), engine, policy, log: nullLogger });
    engine.log("service started");
    const base = await w.baseline();
    expect(base.results.map((r) => `${r.name}: ${r.error ?? "ok"}`)).to.deep.equal(["logs: ok", "counters: ok", "latency: ok"]);

    const quiet = await w.phase("post-install", base.baselines);
    expect(quiet.flatMap((r) => r.findings.map((f) => f.title))).to.deep.equal([]);
    expect(quiet.map(toWatchEvidence).every((e) => e.status === "passed")).to.equal(true);

    engine.cpuPct = 90;
    const t0 = Date.now();
    const work = new Promise((r) => setTimeout(r, 1500)).then(() => engine.log("worker 7: ERROR: lost connection to 10.0.0.9"));
    const bad = await w.phase("post-install", base.baselines, work);
    expect(Date.now() - t0, "the window lasted until the phase's work was done").to.be.at.least(1500);
    expect(bad.flatMap((r) => r.findings.map((f) => `${f.watcher}: ${f.title}`))).to.have.members([
      "counters: CPU use above baseline",
      "logs: new error lines in container: worker <n>: ERROR: lost connection to <ip>",
    ]);
  });

  it("a soak: slices of the baseline's window, a finding as soon as it appears", async () => {
    const engine = fakeEngine();
    const w = machineWatch({ machine: machine(["client"]), conn: new SteadyHost(), engine, policy, log: nullLogger });
    const base = await w.baseline();
    setTimeout(() => (engine.cpuPct = 95), 1000);
    const seen: number[] = [];
    const soak = await w.soak(base.baselines, { durationMs: 2600, onFinding: (f) => seen.push(f.atMs) });
    expect(soak.slices).to.be.within(2, 4);
    expect(soak.findings.map((f) => f.title)).to.deep.equal(["CPU use above baseline"]);
    expect(seen[0]).to.be.at.least(500);
    expect(soak.results.map((r) => r.phase)).to.deep.equal(["soak", "soak", "soak"]);
  });
});
