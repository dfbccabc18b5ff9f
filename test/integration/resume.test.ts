// `run --resume` after a SIGKILL: machines that had finished keep their results, the others
// are verified again from their restored snapshot, and the verdict is the uninterrupted one.
import fs from "node:fs";
import path from "node:path";
import { expect } from "chai";
import type { Decision } from "../../harness/gate/gate.ts";
import { reportsRoot } from "../../harness/core/paths.ts";
import { RECORDS_FILE } from "../../harness/run/records.ts";
import { buildDeb, cli, cliProcess, readJson, runDirFrom, tmpDir } from "./support.ts";

/** A batch: a patch that breaks nginx on web, and a harmless one on dns (two machines, one after the other). */
function twoMachineBatch(dir: string): string {
  const bad = buildDeb(dir, {
    name: "fixture-resume-bad",
    version: "1.0",
    depends: "nginx-common",
    files: { "etc/nginx/conf.d/fixture-resume-bad.conf": "this is not an nginx directive;\n" },
    postinst: "#!/bin/sh\ninvoke-rc.d nginx stop || true\ninvoke-rc.d nginx start || true\nexit 0\n",
    postrm: "#!/bin/sh\ninvoke-rc.d nginx stop || true\ninvoke-rc.d nginx start || true\nexit 0\n",
  });
  const good = buildDeb(dir, { name: "fixture-resume-good", version: "1.0", files: { "usr/share/doc/fixture-resume-good/README": "fixture\n" } });
  const manifest = (id: string, deb: string, role: string) =>
    fs.writeFileSync(path.join(dir, `${id}.yaml`), [`id: ${id}`, `title: ${id}`, "severity: moderate", "kind: deb", `deb: { file: ${path.basename(deb)} }`, `appliesTo: { roles: [${role}] }`, ""].join("\n"));
  manifest("RESUME-WEB", bad, "web");
  manifest("RESUME-DNS", good, "dns");
  const batch = path.join(dir, "resume.yaml");
  fs.writeFileSync(batch, "name: resume\nlab: reference\npatches:\n  - RESUME-WEB.yaml\n  - RESUME-DNS.yaml\n");
  return batch;
}

const verdicts = (d: Decision) => d.patches.map((p) => [p.patch, p.verdict]);

describe("run --resume after the harness was killed", function () {
  let dir: string;
  let batch: string;
  before(async function () {
    const up = await cli(["lab", "up"]);
    expect(up.code, up.stderr).to.equal(0);
    dir = tmpDir("resume");
    batch = twoMachineBatch(dir);
  });

  it("reaches the verdict of an uninterrupted run, keeping what the finished machine verified", async function () {
    const whole = await cli(["run", batch, "--concurrency", "1"]);
    const expected = readJson<Decision>(path.join(runDirFrom(whole.stdout), "gate.json"));
    expect(whole.code, whole.stdout + whole.stderr).to.equal(expected.exitCode);

    // Kill it once the first machine has finished and the second is under way.
    const child = cliProcess(["run", batch, "--concurrency", "1"]);
    let err = "";
    child.stderr!.on("data", (b) => (err += b));
    const runId = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no machine finished:\n${err.slice(-3000)}`)), 600_000);
      const poll = setInterval(() => {
        const id = /run (\S+): batch/.exec(err)?.[1];
        const file = id && path.join(reportsRoot(), id, RECORDS_FILE);
        if (!file || !fs.existsSync(file)) return;
        const lines = fs.readFileSync(file, "utf8").split("\n").filter(Boolean).map((l) => JSON.parse(l) as { type: string; step?: string; machine: string; patch?: string });
        const finished = lines.filter((l) => l.step === "pipeline" && !l.patch).map((l) => l.machine);
        const started = new Set(lines.map((l) => l.machine));
        if (finished.length === 1 && started.size === 2) {
          clearInterval(poll);
          clearTimeout(timer);
          resolve(id!);
        }
      }, 100);
      child.on("exit", () => { clearInterval(poll); clearTimeout(timer); reject(new Error(`the run ended before it could be killed:\n${err.slice(-3000)}`)); });
    });
    child.removeAllListeners("exit");
    const exited = new Promise<void>((resolve) => child.on("exit", () => resolve()));
    process.kill(child.pid!, "SIGKILL");
    await exited;
    const runDir = path.join(reportsRoot(), runId);
    expect(fs.existsSync(path.join(runDir, "gate.json")), "a killed run decided nothing").to.equal(false);

    const resumed = await cli(["run", "--resume", runId]);
    expect(resumed.stderr).to.match(/resumed \(1 machine\(s\) already done\)/);
    const decision = readJson<Decision>(path.join(runDir, "gate.json"));
    expect(verdicts(decision)).to.deep.equal(verdicts(expected));
    expect(resumed.code, resumed.stdout + resumed.stderr).to.equal(expected.exitCode);
    expect(decision.run!.id).to.equal(runId);

    // Resuming a finished run is refused as bad input: nothing to do.
    const again = await cli(["run", "--resume", runId]);
    expect(again.code).to.equal(3);
    expect(again.stderr).to.contain("nothing to resume");
  });
});
