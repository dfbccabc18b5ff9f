import { expect } from "chai";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { Patch } from "../../../harness/config/schemas.ts";
import { LabError, PatchError } from "../../../harness/core/errors.ts";
import { prepareScript, ScriptProvisioner } from "../../../harness/patch/script.ts";
import { FakeConn } from "./fake-conn.ts";

function artifact(script: Record<string, unknown>, options?: Record<string, unknown>) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "patchlab-script-"));
  fs.writeFileSync(path.join(dir, "setup.sh"), "#!/bin/sh\necho hi\n", { mode: 0o755 });
  const patch = Patch.parse({
    id: "ACME-HF-1",
    title: "acme hotfix",
    severity: "important",
    kind: "script",
    appliesTo: { roles: ["web"] },
    ...(options ? { options } : {}),
    script: { version: "1.2", payload: ["setup.sh"], install: "./setup.sh install", uninstall: "./setup.sh remove", detect: "test -e /opt/acme/hf1", ...script },
  });
  return prepareScript(patch, path.join(dir, "patch.yaml"));
}

/** A machine where the installer exits `code` and detection answers `detected`. */
function machine(code: number, detected: () => number, extra: { stderr?: string } = {}) {
  return new FakeConn((cmd) => {
    if (cmd.includes("exec timeout --verbose")) return { exitCode: code, stdout: "installer output\n", stderr: extra.stderr ?? "" };
    if (cmd.includes("test -e /opt/acme/hf1")) return { exitCode: detected() };
    return undefined;
  });
}

describe("script provisioner (vendor installers)", () => {
  it("payload files are hashed into the artifact's identity and uploaded next to the commands", async () => {
    const a = artifact({});
    expect(a.payload).to.have.length(1);
    expect(a.payload[0]).to.include({ package: "ACME-HF-1/setup.sh", version: "1.2" });
    expect(a.payload[0]!.sha256).to.match(/^[0-9a-f]{64}$/);
    let installed = 1;
    const conn = machine(0, () => installed);
    const p = new ScriptProvisioner();
    const install = p.install(conn, a);
    installed = 0;
    const r = await install;
    expect(r.ok, r.message).to.equal(true);
    expect(conn.uploads.map((u) => u.path)).to.include("/var/cache/patchlab/ACME-HF-1/setup.sh");
    expect(conn.uploads.find((u) => u.path.endsWith("setup.sh"))!.mode).to.equal(0o755);
    // Staged, run in the staging folder, cleaned up.
    expect(conn.commands.some((c) => c.startsWith("sh -c cd '/var/cache/patchlab/ACME-HF-1' && exec timeout"))).to.equal(true);
    expect(conn.commands.at(-2)).to.equal("rm -rf /var/cache/patchlab/ACME-HF-1");
  });

  it("passes the vendor's spelling of quiet always, of no-restart when the restart is deferred, of no-backup when asked", async () => {
    const flags = { quiet: "/quiet", noRestart: "/norestart", noBackup: "/nobackup" };
    const plain = machine(0, () => 0);
    await new ScriptProvisioner().install(plain, artifact({ flags }));
    expect(plain.steps()).to.deep.equal(["./setup.sh install /quiet"]);
    const deferred = machine(0, () => 0);
    await new ScriptProvisioner({ deferRestart: true }).install(deferred, artifact({ flags }));
    expect(deferred.steps()).to.deep.equal(["./setup.sh install /quiet /norestart"]);
    // The manifest's own options win over the run's.
    const nobackup = machine(0, () => 0);
    await new ScriptProvisioner({ deferRestart: true }).install(nobackup, artifact({ flags }, { uninstallBackup: false, deferRestart: false }));
    expect(nobackup.steps()).to.deep.equal(["./setup.sh install /quiet /nobackup"]);
  });

  it("an exit code declared as 'restart required' installs and says the machine must restart", async () => {
    const r = await new ScriptProvisioner().install(machine(100, () => 0), artifact({ exitCodes: { success: [0], restartRequired: [100] } }));
    expect(r).to.include({ ok: true, restartRequired: true, exitCode: 100 });
  });

  it("an undeclared exit code fails the install with the installer's output", async () => {
    const r = await new ScriptProvisioner().install(machine(2, () => 1), artifact({}));
    expect(r.ok).to.equal(false);
    expect(r.blame).to.equal(undefined);
    expect(r.exitCode).to.equal(2);
    expect(r.output).to.equal("installer output");
    expect(r.message).to.match(/exited 2: installer output/);
  });

  it("an installer that says success while detection says not installed fails: detection is really asked", async () => {
    const conn = machine(0, () => 1);
    const r = await new ScriptProvisioner().install(conn, artifact({}));
    expect(r.ok).to.equal(false);
    expect(r.message).to.match(/detection says not installed/);
    expect(conn.commands.some((c) => c.includes("test -e /opt/acme/hf1"))).to.equal(true);
  });

  it("an installer killed at its timeout is 'install timed out', the patch's failure", async () => {
    const r = await new ScriptProvisioner().install(machine(124, () => 1, { stderr: "timeout: sending signal TERM to command ‘sh’\n" }), artifact({ timeoutSeconds: 5 }));
    expect(r).to.include({ ok: false, blame: "patch", timedOut: true });
    expect(r.message).to.match(/^install timed out: .* after 5 s/);
  });

  it("exit 124 without timeout's own notice is just an exit code", async () => {
    const r = await new ScriptProvisioner().install(machine(124, () => 1), artifact({}));
    expect(r.timedOut).to.not.equal(true);
    expect(r.message).to.not.match(/timed out/);
  });

  it("an exit code that cannot be read is a lab error, never a patch failure", async () => {
    const conn = machine(-1, () => 1);
    const e = await new ScriptProvisioner().install(conn, artifact({})).catch((x) => x);
    expect(e).to.be.instanceOf(LabError);
    expect((e as LabError).kind).to.equal("exec");
    expect((e as LabError).message).to.match(/could not be read/);
    // The staging folder is still removed.
    expect(conn.commands.at(-1)).to.equal("rm -rf /var/cache/patchlab/ACME-HF-1");
  });

  it("detection that exits neither 0 nor 1 is broken detection, said so", async () => {
    const e = await new ScriptProvisioner().isInstalled(machine(0, () => 127), artifact({})).catch((x) => x);
    expect(e).to.be.instanceOf(PatchError);
    expect((e as PatchError).message).to.match(/detect command .* exited 127/);
  });

  it("uninstall runs the vendor's command and checks detection says absent", async () => {
    let installed = 0;
    const conn = machine(0, () => installed);
    const p = new ScriptProvisioner();
    const r0 = p.uninstall(conn, artifact({}));
    installed = 1;
    const r = await r0;
    expect(r.ok, r.message).to.equal(true);
    expect(conn.steps()).to.deep.equal(["./setup.sh remove"]);
  });

  it("without an uninstall command, or without a backup, uninstall is 'not possible' (needs review)", async () => {
    const none = await new ScriptProvisioner().uninstall(machine(0, () => 1), artifact({ uninstall: undefined }));
    expect(none).to.include({ ok: false, blame: "harness" });
    expect(none.message).to.match(/^not possible: .* has no uninstall command/);
    const nobackup = await new ScriptProvisioner({ uninstallBackup: false }).uninstall(machine(0, () => 1), artifact({}));
    expect(nobackup).to.include({ ok: false, blame: "harness" });
    expect(nobackup.message).to.match(/^not possible: no backup/);
  });
});
