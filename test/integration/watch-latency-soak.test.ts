// Slower answers and late breakage on the reference lab's web machine: a patch whose every
// check still passes but answers 0.8 s late is named by the latency watcher (from the checks'
// own recorded latency and from the probes); a patch that stops nginx some seconds after
// install is missed by the immediate window and caught, and named, by the soak.
import { expect } from "chai";
import { latencyFindings, runSoak, watchBaseline, watchPhase } from "../../harness/watch/index.ts";
import type { TestOutcome } from "../../harness/report/outcome-model.ts";
import { delayedBreakFixture, slowAnswersFixture } from "./watch-fixtures.ts";
import { fixtureDeb, installDeb, keepState, referenceLab, titles, webChecks, WINDOW, type LabAccess } from "./watch-support.ts";

describe("latency and soak watchers on the reference lab", function () {
  this.timeout(240_000);
  let l: LabAccess;
  let state: Awaited<ReturnType<typeof keepState>>;
  let t0 = Date.now();

  before(async function () {
    t0 = Date.now();
    l = await referenceLab();
    state = await keepState(l, ["web"], "watch-selftest-latency");
  });
  afterEach(async function () {
    await state.restore();
  });
  after(async function () {
    await state?.drop();
    console.log(`      (watch-latency-soak: ${((Date.now() - t0) / 1000).toFixed(0)} s)`);
  });

  it("slower answers: every check passes, and the latency watcher names the checks that got slower", async function () {
    let baseChecks: TestOutcome[] = [];
    let phaseChecks: TestOutcome[] = [];
    const base = await watchBaseline(l.checks, l.ctx("web", "baseline", { during: webChecks(l).then((o) => (baseChecks = o)) }));
    await installDeb(l.conn("web"), fixtureDeb(slowAnswersFixture));
    const rs = await watchPhase(l.checks, l.ctx("web", "post-install", { during: webChecks(l).then((o) => (phaseChecks = o)) }), base.baselines);

    // Functionally nothing is wrong: every check passed before and after.
    expect(baseChecks.map((o) => o.status)).to.deep.equal(["passed", "passed", "passed"]);
    expect(phaseChecks.map((o) => `${o.name}: ${o.status}${o.message ? ` ${o.message}` : ""}`)).to.deep.equal(baseChecks.map((o) => `${o.name}: passed`));
    // From the checks' own latency (what the suites record): all three got slower.
    const fromChecks = latencyFindings(baseChecks, phaseChecks, l.policy);
    expect(fromChecks.map((f) => f.title).sort()).to.deep.equal(baseChecks.map((o) => `slower answers: ${o.name}`).sort());
    expect(fromChecks[0]!.message).to.include("the check itself passed");
    // From the watcher's own probes through the window: the HTTP probe, with a chart.
    const probe = rs.flatMap((r) => r.findings).find((f) => f.title === "slower answers: probe web: http GET /healthz answering");
    expect(probe, titles(rs).join("\n")).to.not.equal(undefined);
    expect(probe!.evidence.map((e) => e.contentType)).to.deep.equal(["text/plain", "image/svg+xml"]);
    expect(titles(rs).filter((t) => !t.startsWith("latency: "))).to.deep.equal([]);
  });

  it("a service that breaks some seconds after install: missed by the immediate window, caught and named by the soak", async function () {
    const breakAfterS = 10;
    const base = await watchBaseline(l.checks, l.ctx("web", "baseline", { during: webChecks(l) }));
    await installDeb(l.conn("web"), fixtureDeb(delayedBreakFixture(breakAfterS)));
    const installedAt = Date.now();
    let reference: TestOutcome[] = [];
    const immediate = await watchPhase(l.checks, l.ctx("web", "post-install", { during: webChecks(l).then((o) => (reference = o)) }), base.baselines);
    expect(Date.now() - installedAt, "the immediate checks ended before the break").to.be.lessThan(breakAfterS * 1000);
    // Without a soak, nothing to see: every check passed, no watcher finding.
    expect(reference.map((o) => o.status)).to.deep.equal(["passed", "passed", "passed"]);
    expect(titles(immediate)).to.deep.equal([]);

    const seen: string[] = [];
    const soak = await runSoak({
      checks: l.checks,
      baselines: base.baselines,
      ctx: l.ctx("web", "soak"),
      policy: l.policy,
      durationMs: 24_000,
      suiteIntervalMs: 6_000,
      runLimitedSuites: () => webChecks(l),
      reference,
      onFinding: (f) => seen.push(`${f.watcher}: ${f.title}`),
    });
    const names = soak.findings.map((f) => `${f.watcher}: ${f.title}`);
    expect(names, names.join("\n")).to.include.members([
      "soak: broke during soak: web serves its home page over HTTP",
      "counters: service not running: nginx",
    ]);
    expect(seen).to.deep.equal(names); // reported as they appeared
    const broke = soak.findings.find((f) => f.watcher === "soak")!;
    expect(broke).to.include({ rejects: true, severity: "error" });
    expect(broke.message).to.match(/^passed right after install, failed \d+ s into the soak/);
    expect(soak.slices).to.be.at.least(Math.floor(24_000 / WINDOW.ms) - 1);
    expect(soak.suiteRuns.length).to.be.at.least(2);
    expect(soak.results.map((r) => r.phase)).to.satisfy((ps: string[]) => ps.every((p) => p === "soak"));
  });
});
