// The watchers inside `patchlab run`: a patch that passes every functional check but floods a
// log is rejected by the log watcher; a patch that breaks nginx some seconds after install is
// caught by the soak, and missed without it.
import path from "node:path";
import { expect } from "chai";
import type { Decision } from "../../harness/gate/gate.ts";
import { batchFor, buildDeb, cli, readJson, runDirFrom, tmpDir } from "./support.ts";
import { delayedBreakFixture, errorLinesFixture, goodFixture } from "./watch-fixtures.ts";

const gateOf = (out: string) => readJson<Decision>(path.join(runDirFrom(out), "gate.json"));

describe("watchers in patchlab run", function () {
  let dir: string;
  before(async function () {
    const up = await cli(["lab", "up"]);
    expect(up.code, up.stderr).to.equal(0);
    dir = tmpDir("watch-run");
  });

  it("a patch whose daemon writes error lines passes the suites but is rejected by the log watcher", async function () {
    const batch = batchFor(dir, { id: "WATCH-ERRORS", deb: buildDeb(dir, errorLinesFixture), lab: "reference" });
    const r = await cli(["run", batch]);
    expect(r.code, r.stdout + r.stderr).to.equal(1);
    const p = gateOf(r.stdout).patches[0]!;
    const rejecting = p.reasons.filter((x) => x.effect === "rejects");
    expect(rejecting.length, JSON.stringify(p.reasons, null, 1)).to.be.greaterThan(0);
    expect(rejecting.every((x) => x.kind === "watch" && x.check.startsWith("logs:")), JSON.stringify(rejecting, null, 1)).to.equal(true);
    expect(rejecting[0]!.check).to.match(/new error lines/);
    expect(p.reasons.filter((x) => x.kind === "suite" && x.effect !== "none"), "every functional check passed").to.deep.equal([]);
    expect(r.stderr, "findings are summarised in the run's output").to.match(/watch web post-install: .*finding/);
  });

  it("a good patch gives no finding and is approved", async function () {
    const batch = batchFor(dir, { id: "WATCH-GOOD", deb: buildDeb(dir, goodFixture), lab: "reference" });
    const r = await cli(["run", batch]);
    expect(r.code, r.stdout + r.stderr).to.equal(0);
    const p = gateOf(r.stdout).patches[0]!;
    expect(p.notes.filter((n) => /logs|counters|latency/.test(n))).to.deep.equal([]);
  });

  it("a service that dies some seconds after install is caught by the soak, and missed without it", async function () {
    const deb = buildDeb(dir, delayedBreakFixture(20));
    const batch = batchFor(dir, { id: "WATCH-LATE", deb, lab: "reference" });
    const without = await cli(["run", batch, "--soak", "0"]);
    expect(without.code, `without a soak the immediate checks pass: ${without.stdout}${without.stderr}`).to.equal(0);
    const soaked = await cli(["run", batch, "--soak", "35"]);
    expect(soaked.code, soaked.stdout + soaked.stderr).to.equal(1);
    const p = gateOf(soaked.stdout).patches[0]!;
    const soakReasons = p.reasons.filter((x) => x.effect === "rejects" && x.phase === "soak");
    expect(soakReasons.length, JSON.stringify(p.reasons, null, 1)).to.be.greaterThan(0);
    expect(soakReasons.map((x) => x.check).join("\n")).to.match(/nginx|broke during soak/);
  });
});
