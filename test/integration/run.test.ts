// One patch end to end on the reference lab, with real .debs built here by dpkg-deb:
// a good one is approved, and each deliberately broken one is rejected with the failing
// check named. After every run the lab is exactly as before.
import path from "node:path";
import { expect } from "chai";
import type { Decision } from "../../harness/gate/gate.ts";
import { JournalData } from "../../harness/run/journal.ts";
import { batchFor, buildDeb, cli, docker, labelled, readJson, runDirFrom, tmpDir } from "./support.ts";
import { repoRoot } from "../../harness/core/paths.ts";
import fs from "node:fs";

const NGINX_DEP = "nginx-common";

async function fingerprintWeb(): Promise<unknown> {
  const r = await cli(["lab", "fingerprint", "-m", "web"]);
  expect(r.code, r.stderr).to.equal(0);
  return JSON.parse(r.stdout);
}

/** The run's journal, validated against the schema it is written with. */
const journalOf = (runDir: string) => JournalData.parse(readJson(path.join(runDir, "run.json")));

async function runPatch(id: string, deb: string, dir: string, opts: { restart?: "machine"; args?: string[] } = {}) {
  const batch = batchFor(dir, { id, deb, lab: "reference", ...(opts.restart ? { restart: opts.restart } : {}) });
  const r = await cli(["run", batch, ...(opts.args ?? [])]);
  const runDir = runDirFrom(r.stdout);
  const gate = readJson<Decision>(path.join(runDir, "gate.json"));
  return { r, runDir, gate };
}

describe("patchlab run: one patch end to end", function () {
  let dir: string;
  let pristine: unknown;

  before(async function () {
    const up = await cli(["lab", "up"]);
    expect(up.code, up.stderr).to.equal(0);
    dir = tmpDir("run");
    pristine = await fingerprintWeb();
  });

  afterEach(async function () {
    // The lab is always left restored, and the run's snapshots are gone.
    expect(await fingerprintWeb()).to.deep.equal(pristine);
    const snaps = await docker.listImages({ filters: { label: ["patchlab.kind=snapshot", "patchlab.lab=reference"] } });
    const tagged = snaps.filter((s) => (s.RepoTags ?? []).some((t) => t !== "<none>:<none>"));
    expect(tagged.filter((s) => s.Labels["patchlab.run"] !== "manual").map((s) => s.RepoTags)).to.deep.equal([]);
  });

  it("approves a good patch (exit 0) and records every step in Allure and JUnit", async function () {
    const deb = buildDeb(dir, {
      name: "fixture-good",
      version: "1.0",
      depends: NGINX_DEP,
      files: { "etc/nginx/conf.d/fixture-good.conf": "add_header X-Fixture good always;\n" },
      postinst: "#!/bin/sh\nset -e\n[ \"$1\" = configure ] && invoke-rc.d nginx reload\nexit 0\n",
      postrm: "#!/bin/sh\ninvoke-rc.d nginx reload || true\n",
    });
    const { r, runDir, gate } = await runPatch("FIX-GOOD", deb, dir);
    expect(r.code, r.stdout + r.stderr).to.equal(0);
    expect(gate.verdict).to.equal("approved");
    expect(gate.patches[0]!.verdict).to.equal("approved");
    expect(gate.patches[0]!.counts.passed).to.be.greaterThan(0);
    const results = fs.readdirSync(path.join(runDir, "allure-results"));
    expect(results.filter((f) => f.endsWith("-result.json")).length).to.be.greaterThan(5);
    expect(fs.readdirSync(path.join(runDir, "junit")).length).to.be.greaterThan(0);
    const journal = journalOf(runDir);
    expect(journal.state).to.equal("finished");
    expect(journal.steps.filter((s) => s.step === "install").map((s) => s.status)).to.deep.equal(["passed"]);
    expect(journal.steps.filter((s) => s.step === "uninstall").map((s) => s.status)).to.deep.equal(["passed"]);
  });

  it("rejects a patch whose postinst leaves nginx broken (exit 1), naming the failing check", async function () {
    const deb = buildDeb(dir, {
      name: "fixture-breaks-nginx",
      version: "1.0",
      depends: NGINX_DEP,
      files: { "etc/nginx/conf.d/fixture-bad.conf": "this is not an nginx directive;\n" },
      postinst: "#!/bin/sh\ninvoke-rc.d nginx stop || true\ninvoke-rc.d nginx start || true\nexit 0\n",
    });
    const { r, gate } = await runPatch("FIX-BAD", deb, dir);
    expect(r.code, r.stdout + r.stderr).to.equal(1);
    expect(gate.patches[0]!.verdict).to.equal("rejected");
    const regressions = gate.patches[0]!.reasons.filter((x) => x.rule === "regression");
    expect(regressions.length).to.be.greaterThan(0);
    expect(regressions[0]!.phase).to.equal("post-install");
    expect(regressions[0]!.machine).to.equal("web");
    expect(regressions[0]!.check).to.match(/\w/);
    expect(r.stdout).to.contain(regressions[0]!.check);
  });

  it("rejects a patch whose installer fails (exit 1, install-failed)", async function () {
    const deb = buildDeb(dir, {
      name: "fixture-install-fails",
      version: "1.0",
      postinst: "#!/bin/sh\necho 'cannot migrate configuration' >&2\nexit 1\n",
    });
    const { r, gate, runDir } = await runPatch("FIX-INSTALL-FAILS", deb, dir);
    expect(r.code, r.stdout + r.stderr).to.equal(1);
    expect(gate.patches[0]!.reasons.filter((x) => x.outcome === "failed").map((x) => x.phase)).to.include("install");
    // CI views that read only JUnit see it too, with the maintainer script's own words.
    const junit = fs.readFileSync(path.join(runDir, "junit", "lifecycle.xml"), "utf8");
    expect(junit).to.match(/<testcase classname="lifecycle.web" name="install FIX-INSTALL-FAILS"[^>]*>\s*<failure/);
    expect(junit).to.contain("cannot migrate configuration");
  });

  it("rejects a patch that cannot be uninstalled (exit 1, uninstall-failed)", async function () {
    const deb = buildDeb(dir, {
      name: "fixture-uninstall-fails",
      version: "1.0",
      files: { "usr/share/doc/fixture-uninstall-fails/README": "fixture\n" },
      postrm: "#!/bin/sh\n[ \"$1\" = remove ] && { echo 'refusing to remove' >&2; exit 1; }\nexit 0\n",
    });
    const { r, gate } = await runPatch("FIX-UNINSTALL-FAILS", deb, dir);
    expect(r.code, r.stdout + r.stderr).to.equal(1);
    const reasons = gate.patches[0]!.reasons;
    const failed = reasons.find((x) => x.outcome === "failed" && x.phase === "uninstall");
    expect(failed, JSON.stringify(reasons)).to.not.equal(undefined);
    expect(failed!.message).to.match(/dpkg --purge fixture-uninstall-fails exited 1/);
  });

  it("restarts the machine after a patch that asks for it, and approves it when all comes back", async function () {
    const deb = buildDeb(dir, { name: "fixture-restart-good", version: "1.0", files: { "usr/share/doc/fixture-restart-good/README": "x\n" } });
    const { r, runDir } = await runPatch("FIX-RESTART-GOOD", deb, dir, { restart: "machine" });
    expect(r.code, r.stdout + r.stderr).to.equal(0);
    const journal = journalOf(runDir);
    expect(journal.steps.filter((s) => s.step === "restart").map((s) => s.status)).to.deep.equal(["passed"]);
  });

  it("rejects a patch whose damage only shows after the restart it asks for", async function () {
    // The config is broken but nginx is not reloaded: only the restart reveals it.
    const deb = buildDeb(dir, {
      name: "fixture-breaks-on-restart",
      version: "1.0",
      depends: NGINX_DEP,
      files: { "etc/nginx/conf.d/fixture-latent.conf": "this is not an nginx directive;\n" },
    });
    const { r, gate, runDir } = await runPatch("FIX-BREAKS-ON-RESTART", deb, dir, { restart: "machine", args: ["--timeout", "15"] });
    expect(r.code, r.stdout + r.stderr).to.equal(1);
    const journal = journalOf(runDir);
    expect(journal.steps.find((s) => s.step === "restart")).to.include({ status: "failed" });
    // The machine that does not come back is the patch's failure; what ran after it is not evidence.
    expect(gate.patches[0]!.reasons.find((x) => x.outcome === "failed" && x.phase === "restart")).to.not.equal(undefined);
    expect(gate.patches[0]!.reasons.filter((x) => x.rule === "not-evidence").map((x) => x.phase)).to.include("post-install");
  });

  it("rejects a patch whose uninstall leaves nginx broken (post-uninstall regression)", async function () {
    const deb = buildDeb(dir, {
      name: "fixture-bad-uninstall",
      version: "1.0",
      depends: NGINX_DEP,
      files: { "usr/share/doc/fixture-bad-uninstall/README": "fixture\n" },
      postrm: "#!/bin/sh\n[ \"$1\" = remove ] && invoke-rc.d nginx stop\nexit 0\n",
    });
    const { r, gate } = await runPatch("FIX-BAD-UNINSTALL", deb, dir);
    expect(r.code, r.stdout + r.stderr).to.equal(1);
    const reasons = gate.patches[0]!.reasons.filter((x) => x.rule === "regression");
    expect(reasons.map((x) => x.phase)).to.include("post-uninstall");
    expect(reasons.map((x) => x.phase)).to.not.include("post-install");
  });
});

describe("patchlab run on a lab that is not up", function () {
  it("brings up a lab for the run alone and removes it afterwards, leaving nothing behind", async function () {
    const mini = path.join(repoRoot, "test/fixtures/labs/mini.yaml");
    await cli(["lab", "down", mini]);
    const dir = tmpDir("ephemeral");
    const deb = buildDeb(dir, { name: "fixture-eph", version: "1.0", files: { "usr/share/doc/fixture-eph/README": "x\n" } });
    const r = await cli(["run", batchFor(dir, { id: "EPHEMERAL-GOOD", deb, lab: mini })]);
    expect(r.code, r.stdout + r.stderr).to.equal(0);
    const gate = readJson<Decision>(path.join(runDirFrom(r.stdout), "gate.json"));
    expect(gate.run!.lab).to.equal("mini");
    expect(await labelled("patchlab.lab=mini")).to.deep.equal({ containers: [], networks: [], images: [] });
  });
});
