// No false alarms: a good patch (nginx security headers, reloaded) verified five times on the
// same lab gives no watcher finding at all, and the gate's verdict on the watchers' evidence is
// the same every time (approved).
import { expect } from "chai";
import { summaryText, watchBaseline, watchPhase } from "../../harness/watch/index.ts";
import { goodFixture } from "./watch-fixtures.ts";
import { fixtureDeb, gateVerdict, installDeb, keepState, referenceLab, titles, webChecks, type LabAccess } from "./watch-support.ts";

const RUNS = 5;

describe("watchers raise no false alarm on a good patch", function () {
  this.timeout(300_000);
  let l: LabAccess;
  let state: Awaited<ReturnType<typeof keepState>>;
  let t0 = Date.now();

  before(async function () {
    t0 = Date.now();
    l = await referenceLab();
    state = await keepState(l, ["web"], "watch-selftest-good");
  });
  after(async function () {
    await state?.drop();
    console.log(`      (watch-good: ${((Date.now() - t0) / 1000).toFixed(0)} s)`);
  });

  it(`${RUNS} runs of baseline -> install -> post-install: no finding, the same verdict each time`, async function () {
    const verdicts: string[] = [];
    const overhead: number[] = [];
    for (let run = 1; run <= RUNS; run++) {
      await state.restore();
      const base = await watchBaseline(l.checks, l.ctx("web", "baseline", { during: webChecks(l) }));
      await installDeb(l.conn("web"), fixtureDeb(goodFixture));
      const checks = webChecks(l);
      const rs = await watchPhase(l.checks, l.ctx("web", "post-install", { during: checks }), base.baselines);
      expect((await checks).map((o) => o.status), `run ${run}: the good patch's checks`).to.deep.equal(["passed", "passed", "passed"]);
      expect(rs.filter((r) => r.error).map((r) => r.error), `run ${run}`).to.deep.equal([]);
      expect(titles(rs), `run ${run}: false alarm\n${summaryText(rs)}`).to.deep.equal([]);
      verdicts.push(gateVerdict("good", rs));
      const note = rs.find((r) => r.name === "counters")!.note!;
      overhead.push(Number(/\(([\d.]+)% of one core\)/.exec(note)![1]));
      console.log(`      run ${run}: ${note}`);
    }
    await state.restore();
    expect(verdicts).to.deep.equal(Array(RUNS).fill("approved"));
    // The sampling's own cost inside the machine stays small next to the thresholds (+20 points of CPU).
    expect(Math.max(...overhead)).to.be.lessThan(10);
  });
});
