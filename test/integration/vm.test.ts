// The vm driver for real: one QEMU VM (TCG on these hosts) booted once from the Debian image
// built by the harness, then snapshot -> a real .deb -> a real reboot -> the web role answers
// -> restore, with the restored VM's fingerprint equal to the pre-patch one; a broken patch
// caught by the role check; a VM that does not come back after its reboot reported as a lab
// error within its deadline. One VM for the whole file, savevm/loadvm between cases.
import fs from "node:fs";
import http from "node:http";
import { expect } from "chai";
import { loadLab } from "../../harness/config/loader.ts";
import type { Lab } from "../../harness/config/schemas.ts";
import { LabError } from "../../harness/core/errors.ts";
import { stateDir } from "../../harness/core/paths.ts";
import { VmDriver } from "../../harness/lab/drivers/vm/vm-driver.ts";
import { diffFingerprints, fingerprint } from "../../harness/lab/fingerprint.ts";
import { labPki } from "../../harness/lab/pki.ts";
import { machineReadiness } from "../../harness/lab/roles/index.ts";
import type { SshConnection } from "../../harness/lab/transports/ssh.ts";
import type { MachineHandle, SnapshotRef } from "../../harness/lab/types.ts";
import { DebProvisioner } from "../../harness/patch/deb.ts";
import { probeAll } from "../../harness/readiness/wait.ts";
import { tmpDir } from "./support.ts";
import { debArtifact, Timings } from "./vmssh-support.ts";

const LAB_FILE = "test/fixtures/labs/vmssh-vm.yaml";

function get(ip: string, path: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    http.get({ host: ip, port: 80, path, timeout: 5000 }, (res) => {
      let body = "";
      res.on("data", (b) => (body += b));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
    }).on("error", reject);
  });
}

describe("vm driver: a QEMU VM through snapshot, patch, reboot and restore", function () {
  this.timeout(600_000);
  const t = new Timings();
  let lab: Lab;
  let driver: VmDriver;
  let m: MachineHandle;
  let conn: SshConnection;
  let snap: SnapshotRef;
  let dir: string;
  let rebootMs = 0;
  const roleCheck = async () => probeAll(machineReadiness(m, await labPki(stateDir(), lab)), { machine: "web", ip: m.ip, conn });

  before(async function () {
    dir = tmpDir("vm");
    lab = (await loadLab(LAB_FILE)).lab;
    driver = new VmDriver({ onProgress: (l) => { if (!/ Get:| I: /.test(l)) console.log(`      ${l}`); } });
    // A crashed earlier run may have left this lab's VM: start from nothing.
    await driver.down(lab, { purgeSnapshots: true });
    const handles = await t.time("lab up (cold boot + provision)", () => driver.up(lab, { runId: "vmssh-test", deadline: Date.now() + 300_000 }));
    expect(handles.map((h) => h.spec.name)).to.deep.equal(["web"]); // the client container is not this driver's
    m = handles[0]!;
    conn = driver.connect(m);
  });

  after(async function () {
    if (driver && lab) await driver.down(lab, { purgeSnapshots: true });
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
    for (const x of driver?.timings ?? []) t.rows.push([`driver: ${x.what}`, x.ms]);
    t.print("vm timings");
  });

  it("runs with no route out and forwards bound to its own loopback address only", async () => {
    const route = await conn.exec(["ip", "-4", "route", "show", "default"]);
    expect(route.stdout.trim(), "no default route in the guest").to.equal("");
    const out = await conn.exec("curl -sS -m 3 -o /dev/null http://10.0.2.2/ 2>&1; echo exit=$?");
    expect(out.stdout).to.match(/exit=(7|28)/); // not even the host's slirp gateway (restrict=on)
    expect(m.ip).to.equal("127.30.84.20");
    const st = driver.state(m)!;
    const cmdline = fs.readFileSync(`/proc/${st.pid}/cmdline`, "utf8").split("\0");
    const netdev = cmdline[cmdline.indexOf("-netdev") + 1]!;
    expect(netdev).to.contain("restrict=on");
    for (const fwd of netdev.split(",").filter((x) => x.startsWith("hostfwd="))) expect(fwd).to.match(/^hostfwd=tcp:127\.30\.84\.20:\d+-:\d+$/);
    console.log(`      accel: ${st.accel.accel} (${st.accel.reason})`);
  });

  it("snapshot -> install a real .deb -> reboot -> the web role answers -> restore: fingerprint equals the pre-patch one", async () => {
    const good = await debArtifact(dir, {
      name: "patchlab-vm-good",
      version: "1.0.0",
      depends: "nginx",
      files: { "var/www/patchlab/patched.txt": "patched by patchlab-vm-good\n", "etc/patchlab-vm-good.conf": "enabled=1\n" },
      postinst: "#!/bin/sh\nset -e\necho installed > /var/lib/patchlab-vm-good.state\n",
    });
    snap = await t.time("snapshot (savevm)", () => driver.snapshot(m, "pre-patch", "vmssh-test"));
    const before = await t.time("fingerprint", () => fingerprint(conn));
    expect(before.listening).to.include.members(["tcp/22", "tcp/80", "tcp/443"]);

    const prov = new DebProvisioner();
    const installed = await t.time("install .deb", () => prov.install(conn, good));
    expect(installed.ok, installed.message).to.equal(true);

    const boot = await conn.bootId();
    const t0 = Date.now();
    await t.time("reboot until roles ready", () => conn.restart(Date.now() + 180_000));
    rebootMs = Date.now() - t0;
    expect(await conn.bootId(), "a new boot").to.not.equal(boot);

    const role = await roleCheck();
    expect(role.ok, role.detail).to.equal(true);
    expect(await get(m.ip, "/patched.txt")).to.deep.equal({ status: 200, body: "patched by patchlab-vm-good\n" });
    expect(await prov.isInstalled(conn, good), "installed across the reboot").to.equal(true);

    await t.time("restore (loadvm) until roles ready", () => driver.restore(m, snap, Date.now() + 120_000));
    const after = await fingerprint(conn);
    const diff = diffFingerprints(before, after);
    expect(diff.equal, diff.differences.join("\n")).to.equal(true);
    expect(await prov.isInstalled(conn, good)).to.equal(false);
    expect((await get(m.ip, "/patched.txt")).status).to.equal(404);
    expect((await conn.exec(["test", "-e", "/var/lib/patchlab-vm-good.state"])).exitCode).to.equal(1);
  });

  it("the role check catches a patch that breaks nginx, and the restore brings the role back exactly", async () => {
    const before = await fingerprint(conn);
    const bad = await debArtifact(dir, {
      name: "patchlab-vm-bad",
      version: "1.0.0",
      postinst: "#!/bin/sh\nsystemctl disable --now nginx >/dev/null 2>&1 || true\n",
    });
    const r = await new DebProvisioner().install(conn, bad);
    expect(r.ok, r.message).to.equal(true); // dpkg is happy: only the role check can tell
    const role = await roleCheck();
    expect(role.ok).to.equal(false);
    expect(role.detail).to.match(/tcp\/80: ECONNREFUSED|tcp\/80 timed out|ECONNRESET|socket hang up/);

    await driver.restore(m, snap, Date.now() + 120_000);
    expect((await roleCheck()).ok).to.equal(true);
    expect(diffFingerprints(before, await fingerprint(conn)).equal).to.equal(true);
  });

  it("a VM that does not come back after its reboot is a LabError (readiness-timeout) within its deadline", async () => {
    const noSsh = await debArtifact(dir, {
      name: "patchlab-vm-nossh",
      version: "1.0.0",
      // A patch after which the machine boots but never answers again.
      postinst: "#!/bin/sh\nsystemctl mask ssh.service ssh.socket >/dev/null 2>&1\n",
    });
    expect((await new DebProvisioner().install(conn, noSsh)).ok).to.equal(true);
    // Longer than the good reboot took: a healthy machine would have made it.
    const budget = Math.max(45_000, Math.round(rebootMs * 1.3));
    const t0 = Date.now();
    let err: unknown;
    await t.time("reboot that never comes back (to deadline)", () => conn.restart(t0 + budget).catch((e) => { err = e; }));
    const took = Date.now() - t0;
    expect(err).to.be.instanceOf(LabError);
    expect((err as LabError).kind).to.equal("readiness-timeout");
    expect((err as LabError).message).to.match(/web did not come back after a reboot before its deadline/);
    expect((err as LabError).remedy).to.contain("serial.log");
    expect(took, "reported within its deadline (plus one probe)").to.be.within(budget - 1000, budget + 12_000);
    expect(driver.running(m), "the VM itself still runs").to.equal(true);

    await t.time("restore from the broken state", () => driver.restore(m, snap, Date.now() + 120_000));
    expect((await roleCheck()).ok).to.equal(true);
  });
});
