// Faults injected into a real run on the two-machine mini lab (its own subnet, so the shared
// reference lab is neither needed nor disturbed): a machine killed mid-install, a
// machine frozen mid-install (a step that hangs because the engine stops answering for it), the
// machine's disk filled mid-install. Each is the lab's trouble: the run ends "needs review"
// (exit 2) naming the lab error, never rejects the patch, and the lab is restored (same
// fingerprint, no snapshot of the run left). The contrast: an installer that hangs on a machine
// that still answers is the patch's own defect (it would hang production's unattended install
// too): killed at its deadline and rejected, the lab restored all the same.
import { execFile } from "node:child_process";
import crypto from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { expect } from "chai";
import type { Decision } from "../../harness/gate/gate.ts";
import { repoRoot, reportsRoot } from "../../harness/core/paths.ts";
import { batchFor, buildDeb, cli, cliProcess, docker, labelled, readJson, tmpDir } from "./support.ts";

const MINI = path.join(repoRoot, "test/fixtures/labs/mini.yaml");
const WEB = "patchlab-mini-web";

/** Starts a run and resolves once the installer's own process (`marker`) runs on web. */
async function runUntilInstall(batch: string, marker: string): Promise<{ runId: string; done: Promise<{ code: number | null; stdout: string; stderr: string }> }> {
  const child = cliProcess(["run", batch]);
  let out = "";
  let err = "";
  child.stdout!.on("data", (b) => (out += b));
  child.stderr!.on("data", (b) => (err += b));
  const done = new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => child.on("close", (code) => resolve({ code, stdout: out, stderr: err })));
  let busy = false;
  const runId = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`run never reached install:\n${err.slice(-3000)}`)), 300_000);
    const poll = setInterval(() => {
      const id = /run (\S+): batch/.exec(err)?.[1];
      if (!id || busy) return;
      busy = true;
      // The test's own view of the machine: the maintainer script / installer is running now.
      // `docker top` reads the processes from the host: a `docker exec` racing the snapshot's
      // pause (docker commit) can leave runc stuck in the frozen cgroup and the engine with it.
      execFile("docker", ["top", WEB, "-eo", "pid,args"], (e, stdout) => {
        busy = false;
        if (e || !stdout.split("\n").some((l) => l.includes(marker))) return;
        clearInterval(poll);
        clearTimeout(timer);
        resolve(id);
      });
    }, 300);
    void done.then(() => { clearInterval(poll); clearTimeout(timer); reject(new Error(`run ended before the fault:\n${err.slice(-3000)}`)); });
  });
  return { runId, done };
}

function slowPatch(dir: string, id: string): string {
  const deb = buildDeb(dir, { name: id.toLowerCase(), version: "1.0", files: { [`usr/share/doc/${id.toLowerCase()}/README`]: "fault fixture\n" }, postinst: "#!/bin/sh\nsleep 45\nexit 0\n" });
  return batchFor(dir, { id, deb, lab: MINI });
}

/** A script patch whose installer takes 20 s, with a 5 s step timeout (the machine's own `timeout` would end it). */
function scriptPatch(dir: string, id: string): string {
  fs.writeFileSync(path.join(dir, "install.sh"), "#!/bin/sh\ncase \"$1\" in\n  install) sleep 20; touch /etc/fault-fixture ;;\n  remove) rm -f /etc/fault-fixture ;;\nesac\n", { mode: 0o755 });
  const manifest = path.join(dir, `${id}.yaml`);
  fs.writeFileSync(manifest, [`id: ${id}`, `title: ${id}`, "severity: moderate", "kind: script", "appliesTo: { roles: [web] }", "script:", '  version: "1"', "  payload: [install.sh]", "  install: ./install.sh install", "  uninstall: ./install.sh remove", "  detect: test -f /etc/fault-fixture", "  timeoutSeconds: 5", ""].join("\n"));
  const batch = path.join(dir, `batch-${id}.yaml`);
  fs.writeFileSync(batch, [`name: ${id.toLowerCase()}`, `lab: ${MINI}`, "patches:", `  - ${path.basename(manifest)}`, ""].join("\n"));
  return batch;
}

/** A patch whose preinst waits (the moment to fill the disk), then ships 2 MB that must land in /opt. */
function bulkyPatch(dir: string, id: string): string {
  const name = id.toLowerCase();
  const deb = buildDeb(dir, { name, version: "1.0", files: { [`opt/${name}/blob.bin`]: crypto.randomBytes(2 * 1024 * 1024) }, preinst: "#!/bin/sh\nsleep 6.5\nexit 0\n" });
  return batchFor(dir, { id, deb, lab: MINI });
}

/**
 * Fills web's /opt as a host administrator would: a 1 MiB filesystem mounted there inside web's
 * own mount namespace (entered from the host: lab machines run without CAP_SYS_ADMIN), written
 * until it is full.
 */
async function fillDisk(): Promise<void> {
  const pid = (await docker.getContainer(WEB).inspect()).State.Pid;
  const r = await new Promise<{ code: number; out: string }>((resolve) =>
    execFile("nsenter", ["-t", String(pid), "-m", "--", "sh", "-c", "mount -t tmpfs -o size=1m fault-fill /opt && (dd if=/dev/zero of=/opt/.filler bs=64k 2>/dev/null; true) && df /opt | tail -1"], (e, stdout, stderr) =>
      resolve({ code: e ? Number((e as { code?: number }).code ?? 1) : 0, out: stdout + stderr }),
    ),
  );
  expect(r.code, `the test could not fill web's disk: ${r.out}`).to.equal(0);
  expect(r.out).to.match(/100% \/opt/);
}

const fingerprint = async () => JSON.parse((await cli(["lab", "fingerprint", MINI, "-m", "web"])).stdout) as unknown;

/** What every fault must end with: exit 2, needs review naming the lab error, the lab as it was. */
async function expectLabTrouble(r: { code: number | null; stdout: string; stderr: string }, runId: string, patch: string, said: RegExp, before: unknown): Promise<Decision> {
  expect(r.code, r.stderr.slice(-3000)).to.equal(2);
  const gate = readJson<Decision>(path.join(reportsRoot(), runId, "gate.json"));
  expect(gate.verdict).to.equal("needs-review");
  const p = gate.patches.find((x) => x.patch === patch)!;
  expect(p.verdict, JSON.stringify(p.reasons)).to.equal("needs-review");
  expect(p.reasons.every((x) => x.effect !== "rejects"), JSON.stringify(p.reasons)).to.equal(true);
  const install = p.reasons.find((x) => x.phase === "install" && x.kind === "step")!;
  expect(install, JSON.stringify(p.reasons)).to.include({ machine: "web", outcome: "broken", effect: "undecided" });
  expect(install.message).to.match(said);
  // The lab is back as it was: web runs with the same fingerprint, nothing of the run is left.
  const info = await docker.getContainer(WEB).inspect();
  expect(info.State.Running && !info.State.Paused).to.equal(true);
  expect(await fingerprint()).to.deep.equal(before);
  const left = await labelled(`patchlab.run=${runId}`);
  expect(left.images, "snapshots of the run left behind").to.deep.equal([]);
  return gate;
}

describe("faults injected mid-run are lab errors, never patch failures", function () {
  let webBefore: unknown;
  before(async function () {
    const up = await cli(["lab", "up", MINI]);
    expect(up.code, up.stderr).to.equal(0);
    webBefore = await fingerprint();
  });
  after(async function () {
    const down = await cli(["lab", "down", MINI, "--purge"]);
    expect(down.code, down.stderr).to.equal(0);
  });
  afterEach(async function () {
    // Whatever happened, leave web running for the next test.
    const info = await docker.getContainer(WEB).inspect().catch(() => undefined);
    if (info?.State.Paused) await docker.getContainer(WEB).unpause().catch(() => undefined);
  });

  it("a lab machine killed mid-install: exit 2, needs review naming the killed machine, web restored", async function () {
    const dir = tmpDir("fault-kill");
    const t0 = Date.now();
    const { runId, done } = await runUntilInstall(slowPatch(dir, "FAULT-KILLED"), "sleep 45");
    await docker.getContainer(WEB).kill();
    const r = await done;
    await expectLabTrouble(r, runId, "FAULT-KILLED", /exited 137 on web, and web (cannot run `true` any more|no longer runs commands)/, webBefore);
    console.log(`      (machine killed: run ended ${Math.round((Date.now() - t0) / 1000)} s after it started)`);
  });

  it("a machine frozen mid-install (the engine stops answering for it): the step's deadline ends it as a lab error, web restored", async function () {
    const dir = tmpDir("fault-freeze");
    const t0 = Date.now();
    const { runId, done } = await runUntilInstall(scriptPatch(dir, "FAULT-FROZEN"), "sleep 20");
    await docker.getContainer(WEB).pause();
    const r = await done;
    await expectLabTrouble(r, runId, "FAULT-FROZEN", /timed out|timeout|paused/i, webBefore);
    console.log(`      (machine frozen: run ended ${Math.round((Date.now() - t0) / 1000)} s after it started)`);
  });

  it("web's disk filled mid-install (dpkg cannot write): a disk-full lab error naming web, never a patch failure; web restored", async function () {
    const dir = tmpDir("fault-disk");
    const t0 = Date.now();
    const { runId, done } = await runUntilInstall(bulkyPatch(dir, "FAULT-DISKFULL"), "sleep 6.5");
    await fillDisk().catch(async (e: unknown) => {
      await done; // never leave the run holding the lab
      throw e;
    });
    const r = await done;
    await expectLabTrouble(r, runId, "FAULT-DISKFULL", /on web because a disk is full: .*No space left on device/, webBefore);
    // The restored web has its whole disk again: nothing of the fault's filesystem is left.
    const left = await cli(["lab", "fingerprint", MINI, "-m", "web"]);
    expect(left.stdout).to.not.match(/fault-fill|\.filler/);
    console.log(`      (disk filled: run ended ${Math.round((Date.now() - t0) / 1000)} s after it started)`);
  });

  it("contrast: an installer that hangs on a machine that still answers is killed at its deadline and rejected as the patch's defect; web restored", async function () {
    const dir = tmpDir("fault-hang");
    fs.writeFileSync(path.join(dir, "install.sh"), "#!/bin/sh\ncase \"$1\" in\n  install) sleep 600 ;;\n  remove) rm -f /etc/fault-fixture ;;\nesac\n", { mode: 0o755 });
    fs.writeFileSync(path.join(dir, "FAULT-HANG.yaml"), ["id: FAULT-HANG", "title: FAULT-HANG", "severity: moderate", "kind: script", "appliesTo: { roles: [web] }", "script:", '  version: "1"', "  payload: [install.sh]", "  install: ./install.sh install", "  uninstall: ./install.sh remove", "  detect: test -f /etc/fault-fixture", "  timeoutSeconds: 5", ""].join("\n"));
    const batch = path.join(dir, "batch.yaml");
    const t0 = Date.now();
    fs.writeFileSync(batch, ["name: fault-hang", `lab: ${MINI}`, "patches:", "  - FAULT-HANG.yaml", ""].join("\n"));
    const r = await cli(["run", batch]);
    expect(r.code, r.stderr.slice(-3000)).to.equal(1);
    const runId = /run (\S+): batch/.exec(r.stderr)![1]!;
    const gate = readJson<Decision>(path.join(reportsRoot(), runId, "gate.json"));
    const p = gate.patches.find((x) => x.patch === "FAULT-HANG")!;
    expect(p.verdict).to.equal("rejected");
    const install = p.reasons.find((x) => x.phase === "install" && x.kind === "step")!;
    expect(install, JSON.stringify(p.reasons)).to.include({ machine: "web", outcome: "failed", effect: "rejects" });
    expect(install.message).to.match(/install timed out: .* still running after 5 s and was killed/);
    expect(await fingerprint()).to.deep.equal(webBefore);
    // The hung installer did not hold the run: it ended long before the installer's own 600 s.
    expect(Date.now() - t0).to.be.below(180_000);
    console.log(`      (hung installer: run ended ${Math.round((Date.now() - t0) / 1000)} s after it started)`);
  });
});
