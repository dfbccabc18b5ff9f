// Kill the harness in the middle of a run: the next patchlab command cleans up. A lab that
// was up before the run is restored from the run's snapshot; a lab the run brought up for
// itself is removed. Results already written stay.
import fs from "node:fs";
import path from "node:path";
import { expect } from "chai";
import { repoRoot, reportsRoot } from "../../harness/core/paths.ts";
import { batchFor, buildDeb, cli, cliProcess, docker, labelled, tmpDir } from "./support.ts";

const MINI = path.join(repoRoot, "test/fixtures/labs/mini.yaml");

/** Start a run, wait until its patch is being installed, then SIGKILL the whole process group. */
async function killDuringInstall(batch: string, signal: NodeJS.Signals = "SIGKILL"): Promise<{ runId: string; exit: Promise<number | null> }> {
  const child = cliProcess(["run", batch]);
  let err = "";
  child.stderr!.on("data", (b) => (err += b));
  const runId = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`run never reached install:\n${err.slice(-3000)}`)), 600_000);
    const poll = setInterval(() => {
      const id = /run (\S+): batch/.exec(err)?.[1];
      if (!id) return;
      const journal = path.join(reportsRoot(), id, "run.json");
      // The sleeping postinst is running once the baseline suite has been recorded.
      if (fs.existsSync(journal) && /suite web baseline/.test(fs.readFileSync(journal, "utf8"))) {
        clearInterval(poll);
        clearTimeout(timer);
        setTimeout(() => resolve(id), 1500);
      }
    }, 200);
    child.on("exit", () => { clearInterval(poll); clearTimeout(timer); reject(new Error(`run ended before it could be killed:\n${err.slice(-3000)}`)); });
  });
  child.removeAllListeners("exit");
  const exit = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
  child.kill(signal);
  if (signal === "SIGKILL") await exit;
  return { runId, exit };
}

function slowDeb(dir: string, name: string): string {
  return buildDeb(dir, {
    name,
    version: "1.0",
    files: { "etc/nginx/conf.d/slow.conf": "# slow fixture\n" },
    postinst: "#!/bin/sh\nsleep 60\nexit 0\n",
  });
}

describe("a run killed mid-way", function () {
  it("leaves a lab that was up restored by the next patchlab command", async function () {
    const up = await cli(["lab", "up"]);
    expect(up.code, up.stderr).to.equal(0);
    const fp = async () => {
      const r = await cli(["lab", "fingerprint", "-m", "web"]);
      expect(r.code, `lab fingerprint: ${r.stderr}`).to.equal(0);
      return JSON.parse(r.stdout);
    };
    const before = await fp();
    const dir = tmpDir("crash");
    const { runId } = await killDuringInstall(batchFor(dir, { id: "CRASH-PERSISTENT", deb: slowDeb(dir, "fixture-slow"), lab: "reference" }));

    // The run's snapshot is still there: nobody has cleaned up yet.
    expect((await labelled(`patchlab.run=${runId}`)).images.length).to.be.greaterThan(0);

    const next = await cli(["lab", "status"]);
    expect(next.stderr).to.match(/reaper: restored web/);
    expect(await fp()).to.deep.equal(before);
    expect((await labelled(`patchlab.run=${runId}`)).images).to.deep.equal([]);
    // What the run wrote before it died is kept, with a note saying why it is incomplete.
    const runDir = path.join(reportsRoot(), runId);
    expect(JSON.parse(fs.readFileSync(path.join(runDir, "run.json"), "utf8")).state).to.equal("running");
    expect(fs.readFileSync(path.join(runDir, "interrupted.log"), "utf8")).to.match(/restored from its pre-run snapshot/);
  });

  it("leaves no container of a run that brought up its own lab", async function () {
    await cli(["lab", "down", MINI]);
    const dir = tmpDir("crash-eph");
    const { runId } = await killDuringInstall(batchFor(dir, { id: "CRASH-EPHEMERAL", deb: slowDeb(dir, "fixture-slow2"), lab: MINI }));
    // The lab's two machines, and the warm standby the run had started for web's restore.
    const made = (await labelled(`patchlab.run=${runId}`)).containers;
    expect(made.filter((c) => !c.endsWith("-standby"))).to.deep.equal(["patchlab-mini-client", "patchlab-mini-web"]);

    const next = await cli(["lab", "status", MINI]);
    expect(next.stderr).to.match(new RegExp(`reaper: removed ${made.length} container`));
    const left = await labelled(`patchlab.run=${runId}`);
    expect(left).to.deep.equal({ containers: [], networks: [], images: [] });
    const nets = await docker.listNetworks({ filters: { name: ["patchlab-mini"] } });
    expect(nets.filter((n) => n.Name === "patchlab-mini")).to.deep.equal([]);
  });

  it("stopped with SIGTERM, a run restores the lab itself before it exits 2", async function () {
    const fp = async () => {
      const r = await cli(["lab", "fingerprint", "-m", "web"]);
      expect(r.code, `lab fingerprint: ${r.stderr}`).to.equal(0);
      return JSON.parse(r.stdout);
    };
    const before = await fp();
    const dir = tmpDir("sigterm");
    const { runId, exit } = await killDuringInstall(batchFor(dir, { id: "CRASH-SIGTERM", deb: slowDeb(dir, "fixture-slow3"), lab: "reference" }), "SIGTERM");
    expect(await exit).to.equal(2);
    expect((await labelled(`patchlab.run=${runId}`)).images).to.deep.equal([]);
    const next = await cli(["lab", "status"]);
    expect(next.stderr, next.stderr).to.not.match(/reaper: restored/);
    expect(await fp()).to.deep.equal(before);
  });
});
