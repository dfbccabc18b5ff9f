// The soak: watchers keep observing in slices of the baseline's length and the limited suites
// keep re-running; what breaks only later is a soak finding, each reported once.
import { expect } from "chai";
import { defaultWatchPolicy } from "../../../harness/watch/policy.ts";
import { runSoak, soakSuiteFindings } from "../../../harness/watch/soak.ts";
import type { Baseline, Check, Finding } from "../../../harness/watch/types.ts";
import type { TestOutcome } from "../../../harness/report/outcome-model.ts";
import { ctxFor, LocalConnection } from "./helpers.ts";

const policy = defaultWatchPolicy();
const pass = (name: string, latencyMs = 10): TestOutcome => ({ name, status: "passed", durationMs: 5, latencyMs });
const fail = (name: string): TestOutcome => ({ name, status: "failed", durationMs: 5, message: "connection refused" });

/** A watcher that finds `title` once `breaksAt` ms have passed since it was created. */
function fakeCheck(breaksAt: number, title = "service died: nginx"): Check & { windows: number[] } {
  const t0 = Date.now();
  const windows: number[] = [];
  return {
    name: "counters",
    windows,
    async before(): Promise<Baseline> { return { watcher: "counters", version: 1 }; },
    async after(ctx): Promise<Finding[]> {
      const s = Date.now();
      await new Promise((r) => setTimeout(r, ctx.window.ms));
      windows.push(Date.now() - s);
      return Date.now() - t0 >= breaksAt ? [{ watcher: "counters", severity: "error", rejects: true, title, message: "gone", evidence: [] }] : [];
    },
  };
}

describe("watch: soak", () => {
  it("a suite check that passed after install and fails later is a soak finding; broken is not blamed", () => {
    const ref = [pass("home page"), pass("healthz")];
    const f = soakSuiteFindings(ref, [fail("home page"), { ...pass("healthz"), status: "broken" }], 12_000, policy);
    expect(f.map((x) => [x.watcher, x.title, x.rejects])).to.deep.equal([
      ["soak", "broke during soak: home page", true],
      ["soak", "could not run during soak: healthz", false],
    ]);
    expect(f[0]!.message).to.equal("passed right after install, failed 12 s into the soak: connection refused");
    expect(soakSuiteFindings(ref, [pass("home page", 2000)], 1000, policy).map((x) => x.title)).to.deep.equal(["slower answers: home page"]);
  });

  it("keeps watching in whole slices of the baseline's length and re-running the suites; reports each finding once, as it appears", async () => {
    const check = fakeCheck(450);
    let runs = 0;
    const seen: string[] = [];
    const r = await runSoak({
      checks: [check],
      baselines: { counters: { watcher: "counters", version: 1 } },
      ctx: ctxFor(new LocalConnection(), { ms: 200, sampleMs: 100 }),
      policy,
      durationMs: 1000,
      suiteIntervalMs: 250,
      reference: [pass("home page")],
      runLimitedSuites: async () => (++runs >= 2 ? [fail("home page")] : [pass("home page")]),
      onFinding: (f) => seen.push(`${f.watcher}: ${f.title}`),
    });
    // Bounds leave room for a busy host (the unit tests may share 2 cores with a lab at work).
    expect(r.slices).to.be.within(3, 5);
    expect(check.windows.every((ms) => ms >= 195 && ms < 1000), String(check.windows)).to.equal(true);
    expect(r.suiteRuns.length).to.equal(3);
    expect(seen.sort()).to.deep.equal(["counters: service died: nginx", "soak: broke during soak: home page"]);
    expect(r.findings.map((f) => f.title).sort()).to.deep.equal(["broke during soak: home page", "service died: nginx"]);
    const died = r.findings.find((f) => f.watcher === "counters")!;
    expect(died.atMs).to.be.within(350, 1000);
    expect(r.results.map((x) => `${x.name} ${x.phase} ${x.findings.length}`).sort()).to.deep.equal(["counters soak 1", "soak soak 1"]);
  });

  it("without a break, a soak has no finding", async () => {
    const r = await runSoak({
      checks: [fakeCheck(1e9)],
      baselines: { counters: { watcher: "counters", version: 1 } },
      ctx: ctxFor(new LocalConnection(), { ms: 100, sampleMs: 50 }),
      policy,
      durationMs: 300,
      suiteIntervalMs: 100,
      reference: [pass("home page")],
      runLimitedSuites: async () => [pass("home page")],
    });
    expect(r.findings).to.deep.equal([]);
    expect(r.results.every((x) => !x.error && x.findings.length === 0)).to.equal(true);
  });

  it("a watcher without a baseline and a suite run that throws are broken, not findings", async () => {
    const r = await runSoak({
      checks: [fakeCheck(0)],
      baselines: {},
      ctx: ctxFor(new LocalConnection(), { ms: 100, sampleMs: 50 }),
      policy,
      // The first re-run is due at 100 ms: 500 ms of slack for a busy host's timers.
      durationMs: 600,
      suiteIntervalMs: 100,
      runLimitedSuites: async () => { throw new Error("client machine gone"); },
    });
    expect(r.findings).to.deep.equal([]);
    expect(r.results.find((x) => x.name === "counters")!.error).to.match(/no baseline for watcher counters/);
    expect(r.results.find((x) => x.name === "soak")!.error).to.match(/could not run: .*client machine gone/);
  });
});
