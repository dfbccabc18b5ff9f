// The gate's promise, end to end on the real lab: silence never approves, every run (even one
// that never reaches the lab) writes gate.json with the gate's exit code, and a saved run can
// be re-gated with new waivers, or checked against a package set, without touching the lab.
import fs from "node:fs";
import path from "node:path";
import { expect } from "chai";
import type { Decision } from "../../harness/gate/gate.ts";
import { acquireLabLock } from "../../harness/lab/lock.ts";
import { repoRoot } from "../../harness/core/paths.ts";
import { batchFor, buildDeb, cli, docker, labelled, readJson, runDirFrom, tmpDir } from "./support.ts";

const gateOf = (runDir: string) => readJson<Decision>(path.join(runDir, "gate.json"));

/** A copy of the reference lab (same name: the running lab is reused) with extra suites on some machines. */
function referenceWithSuites(dir: string, extra: Record<string, string>): string {
  const src = fs.readFileSync(path.join(repoRoot, "lab-config", "labs", "reference.yaml"), "utf8");
  let out = src;
  for (const [machine, spec] of Object.entries(extra)) {
    out = out.replace(new RegExp(`(  - name: ${machine}\\n)`), `$1    suites: [${spec}]\n`);
  }
  const file = path.join(dir, "reference-copy.yaml");
  fs.writeFileSync(file, out);
  return file;
}

describe("the gate never approves without evidence", function () {
  let dir: string;
  let goodDeb: string;

  before(async function () {
    const up = await cli(["lab", "up"]);
    expect(up.code, up.stderr).to.equal(0);
    dir = tmpDir("gate");
    goodDeb = buildDeb(dir, { name: "fixture-gate-good", version: "1.0", files: { "usr/share/doc/fixture-gate-good/README": "fixture\n" } });
  });

  it("a patch on two machines, one of which has a required suite that cannot run, needs review (exit 2)", async function () {
    // The extra suite throws before any check: the lab could not check dns, so the patch is undecided.
    fs.writeFileSync(path.join(dir, "cannot-run.spec.ts"), `describe("cannot run", () => { before(() => { throw new Error("the probe this suite needs is not installed"); }); it("never runs", () => {}); });\n`);
    const lab = referenceWithSuites(dir, { dns: "./cannot-run.spec.ts" });
    const batch = batchFor(dir, { id: "GATE-TWO-MACHINES", deb: goodDeb, lab, roles: ["web", "dns"] });
    const r = await cli(["run", batch]);
    expect(r.code, r.stdout + r.stderr).to.equal(2);
    const gate = gateOf(runDirFrom(r.stdout));
    const p = gate.patches[0]!;
    expect(p.verdict).to.equal("needs-review");
    const undecided = p.reasons.filter((x) => x.effect === "undecided");
    expect(undecided.length).to.be.greaterThan(0);
    expect(undecided.every((x) => x.machine === "dns"), JSON.stringify(undecided)).to.equal(true);
    expect(undecided.some((x) => x.suite === "cannot-run" || x.check.includes("cannot-run")), JSON.stringify(undecided)).to.equal(true);
    expect(p.reasons.filter((x) => x.machine === "web"), "web verified cleanly").to.deep.equal([]);
    expect(p.counts.passed).to.be.greaterThan(0);
  });

  it("a run with the engine unreachable writes gate.json and exits 2, naming the reason", async function () {
    const batch = batchFor(dir, { id: "GATE-NO-ENGINE", deb: goodDeb, lab: "reference" });
    const r = await cli(["run", batch], { env: { DOCKER_HOST: `unix://${path.join(dir, "no-engine.sock")}` } });
    expect(r.code, r.stdout + r.stderr).to.equal(2);
    const gate = gateOf(runDirFrom(r.stdout));
    expect(gate).to.include({ verdict: "needs-review", exitCode: 2 });
    expect(gate.error).to.include({ kind: "engine-unreachable" });
    expect(gate.patches[0]!.verdict).to.equal("needs-review");
    expect(gate.patches[0]!.reasons[0]!.message).to.match(/stopped before its target machines were known/);
    expect(fs.readFileSync(path.join(runDirFrom(r.stdout), "summary.md"), "utf8")).to.contain("The run could not complete");
  });

  it("a run on a lab whose lock another process holds writes gate.json and exits 2, naming the holder", async function () {
    const lock = acquireLabLock("reference", "test: holding the lab");
    try {
      const batch = batchFor(dir, { id: "GATE-LOCKED", deb: goodDeb, lab: "reference" });
      const r = await cli(["run", batch]);
      expect(r.code, r.stdout + r.stderr).to.equal(2);
      const gate = gateOf(runDirFrom(r.stdout));
      expect(gate.error).to.include({ kind: "busy" });
      expect(gate.error!.message).to.contain("test: holding the lab");
    } finally {
      lock.release();
    }
  });

  it("bad input exits 3 with the problems in gate.json and summary.md, and creates nothing", async function () {
    const bad = path.join(dir, "bad-batch.yaml");
    fs.writeFileSync(bad, "name: bad\nlab: reference\npatches: [./GATE-NO-ENGINE.yaml]\nextra_key: 1\n");
    const before = await labelled("patchlab.run");
    const r = await cli(["run", bad]);
    expect(r.code, r.stdout + r.stderr).to.equal(3);
    const runDir = runDirFrom(r.stdout);
    const gate = gateOf(runDir);
    expect(gate).to.include({ verdict: "bad-input", exitCode: 3 });
    expect(gate.problems![0]!.file).to.contain("bad-batch.yaml");
    expect(gate.problems!.map((p) => p.field)).to.include("extra_key");
    expect(fs.readdirSync(runDir).sort()).to.deep.equal(["gate.json", "summary.md"]);
    expect(await labelled("patchlab.run")).to.deep.equal(before);
  });
});

describe("re-gating a saved run without touching the lab", function () {
  let dir: string;
  let runDir: string;
  let debs: string;

  before(async function () {
    const up = await cli(["lab", "up"]);
    expect(up.code, up.stderr).to.equal(0);
    dir = tmpDir("regate");
    debs = path.join(dir, "debs");
    fs.mkdirSync(debs);
    // Replaces the home page (a rebrand): the home page checks fail, the others pass. A change
    // a person may accept with a waiver.
    const deb = buildDeb(debs, {
      name: "fixture-hide-server",
      version: "1.0",
      files: { "var/www/patchlab/index.html": "<h1>new corporate home page</h1>\n" },
    });
    const batch = batchFor(debs, { id: "REGATE-1", deb, lab: "reference" });
    const r = await cli(["run", batch]);
    expect(r.code, r.stdout + r.stderr).to.equal(1);
    runDir = runDirFrom(r.stdout);
  });

  it("a new waiver changes the decision; an expired one does not, and says so", async function () {
    const engineBefore = await labelled("patchlab.run");
    const waivers = path.join(dir, "waivers.yaml");
    // The new home page is accepted, and so is what its uninstall leaves (the page removed).
    fs.writeFileSync(waivers, `waivers:\n  - id: W-TEST-1\n    patch: REGATE-1\n    check: "web role > *"\n    reason: "accepted for the test: web is rebuilt after this patch"\n    approver: "Test Approver"\n    expires: 2999-12-31\n  - id: W-TEST-2\n    patch: REGATE-1\n    check: residue\n    reason: "the old home page is not restored on uninstall; accepted"\n    approver: "Test Approver"\n    expires: 2999-12-31\n`);
    const t0 = Date.now();
    const ok = await cli(["gate", runDir, "--waivers", waivers]);
    const ms = Date.now() - t0;
    expect(ok.code, ok.stdout + ok.stderr).to.equal(0);
    expect(ok.stdout).to.match(/APPROVED\s+REGATE-1/);
    expect(ok.stdout).to.contain("waived by Test Approver");
    const regated = readJson<Decision>(path.join(runDir, "gate-regated.json"));
    expect(regated.run!.regatedFrom).to.equal(path.basename(runDir));
    expect(regated.patches[0]!.reasons.some((x) => x.outcome === "waived" && x.waiver?.id === "W-TEST-1")).to.equal(true);
    expect(gateOf(runDir).verdict, "the run's own gate.json is kept").to.equal("rejected");

    fs.writeFileSync(waivers, fs.readFileSync(waivers, "utf8").replace("2999-12-31", "2001-01-01"));
    const expired = await cli(["gate", runDir, "--waivers", waivers]);
    expect(expired.code).to.equal(1);
    expect(expired.stdout).to.contain("waiver expired 2001-01-01: not applied");
    expect(await labelled("patchlab.run"), "nothing in the engine changed").to.deep.equal(engineBefore);
    console.log(`      patchlab gate (re-gate a saved run): ${ms} ms`);
  });

  it("--check-set says whether a package set is exactly the approved set", async function () {
    const waivers = path.join(dir, "waivers-ok.yaml");
    fs.writeFileSync(waivers, `waivers:\n  - patch: REGATE-1\n    check: "*"\n    reason: "accepted for the test of check-set"\n    approver: "Test Approver"\n    expires: 2999-12-31\n`);
    const exact = await cli(["gate", runDir, "--waivers", waivers, "--check-set", debs]);
    expect(exact.code, exact.stdout + exact.stderr).to.equal(0);
    expect(exact.stdout).to.contain("exactly what was approved");
    // The same name and version, other bytes: not what was tested.
    const other = path.join(dir, "other");
    fs.mkdirSync(other);
    buildDeb(other, { name: "fixture-hide-server", version: "1.0", files: { "usr/share/doc/x/README": "other bytes\n" } });
    const tampered = await cli(["gate", runDir, "--waivers", waivers, "--check-set", other]);
    expect(tampered.code).to.equal(1);
    expect(tampered.stdout).to.contain("different from what was tested: fixture-hide-server 1.0");
    const list = path.join(dir, "set.txt");
    fs.writeFileSync(list, "fixture-hide-server=1.0\nopenssl=3.0.15-1~deb12u1\n");
    const extra = await cli(["gate", runDir, "--waivers", waivers, "--check-set", list]);
    expect(extra.code).to.equal(1);
    expect(extra.stdout).to.contain("not approved: openssl 3.0.15-1~deb12u1");
    // Without the waiver nothing is approved: the set matches nothing.
    const none = await cli(["gate", runDir, "--check-set", debs]);
    expect(none.code).to.equal(1);
    expect(none.stdout).to.contain("not approved: fixture-hide-server 1.0");
  });

  it("a bad waivers file is bad input (exit 3) naming the field", async function () {
    const waivers = path.join(dir, "waivers-bad.yaml");
    fs.writeFileSync(waivers, `waivers:\n  - patch: REGATE-1\n    reason: "too"\n    approver: "X Y"\n    expires: 2026-02-30\n`);
    const r = await cli(["gate", runDir, "--waivers", waivers]);
    expect(r.code).to.equal(3);
    expect(r.stderr).to.contain("waivers-bad.yaml");
    expect(r.stderr).to.match(/expires/);
    expect(r.stderr).to.match(/reason/);
  });
});

void docker;
