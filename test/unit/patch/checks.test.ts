import { expect } from "chai";
import { LabError } from "../../../harness/core/errors.ts";
import { parseState } from "../../../harness/lab/state.ts";
import { idempotenceCheck } from "../../../harness/patch/idempotence.ts";
import { installCheck, uninstallCheck } from "../../../harness/patch/install-check.ts";
import { residueCheck, rollbackCheck } from "../../../harness/patch/residue.ts";
import type { PatchArtifact, PatchProvisioner, StepOutcome } from "../../../harness/patch/types.ts";
import { FakeConn } from "./fake-conn.ts";

const SEP = "--patchlab-state--";
const H = (c: string) => c.repeat(64);

/** State script output: the given files (path -> content letter and size) and nginx's state. */
function stateOut(files: Record<string, [string, number]>, nginx: "running" | "stopped" = "running"): string {
  const meta = Object.entries(files).map(([p, [, size]]) => `f\t644\troot:root\t${size}\t${p}\t`).join("\n");
  const hashes = Object.entries(files).map(([p, [c]]) => `${H(c)}  ${p}`).join("\n");
  return ["nginx\t1.0\tii ", "root:x:0:0:root:/root:/bin/sh", "root:x:0:", meta, hashes, `nginx ${nginx}`, "tcp 00000000:0050"].join(`\n${SEP}\n`);
}

/** A machine whose state is whatever `now()` says. */
const machine = (now: () => string) => new FakeConn((cmd) => (cmd.includes("${binary:Package}") ? { stdout: now() } : undefined));

const a = { patch: { id: "PL-1", kind: "deb" }, package: "pl", version: "1" } as unknown as PatchArtifact;

function provisioner(o: { install?: () => StepOutcome | Promise<StepOutcome>; detected?: () => boolean } = {}): PatchProvisioner & { asked: number } {
  const p = {
    asked: 0,
    install: async () => (o.install ?? (() => ({ ok: true, message: "pl 1 installed", output: "Setting up pl (1)", durationMs: 5, exitCode: 0 })))(),
    uninstall: async () => ({ ok: true, message: "pl removed", output: "Removing pl", durationMs: 5, exitCode: 0 }),
    isInstalled: async () => {
      p.asked++;
      return (o.detected ?? (() => true))();
    },
  };
  return p;
}

describe("install and uninstall checks", () => {
  it("passes with exit code, detection really asked, disk used (files + backup) and the output and state changes attached", async () => {
    let files: Record<string, [string, number]> = { "/etc/a": ["a", 10] };
    const conn = machine(() => stateOut(files));
    const p = provisioner({
      install: () => {
        files = { ...files, "/etc/pl.conf": ["b", 300] };
        return { ok: true, message: "pl 1 installed", output: "Setting up pl (1)", durationMs: 5, exitCode: 0, backupBytes: 1000 };
      },
    });
    const r = await installCheck(conn, p, a);
    expect(r.status, r.message).to.equal("passed");
    expect(p.asked).to.equal(1);
    expect(r).to.deep.include({ exitCode: 0, detected: true, diskDeltaBytes: 300, backupBytes: 1000, diskUsedBytes: 1300 });
    expect(r.message).to.equal("pl 1 installed; detection agrees; services ready; disk used 1.3 KiB (of which 1000 B uninstall backup)");
    expect(r.attachments[0]).to.deep.equal({ name: "install output (PL-1 on web)", type: "text/plain", content: "Setting up pl (1)" });
    expect(r.attachments[1]!.content).to.include(`+/etc/pl.conf  f 0644 root:root 300 sha256:${H("b")}`);
  });

  it("an installer that reports success while detection says not installed fails", async () => {
    const r = await installCheck(machine(() => stateOut({})), provisioner({ detected: () => false }), a);
    expect(r.status).to.equal("failed");
    expect(r.message).to.equal("install of PL-1 reported success but detection says it is not installed");
  });

  it("the installer's failure is the patch's (failed, exit code and timeout kept); the harness's is broken", async () => {
    const timed = await installCheck(machine(() => stateOut({})), provisioner({ install: () => ({ ok: false, blame: "patch", timedOut: true, exitCode: 124, message: "install timed out: ...", output: "", durationMs: 5000 }) }), a);
    expect(timed).to.deep.include({ status: "failed", timedOut: true, exitCode: 124 });
    const review = await installCheck(machine(() => stateOut({})), provisioner({ install: () => ({ ok: false, blame: "harness", missing: ["libx"], message: "needs review: ...", output: "", durationMs: 1 }) }), a);
    expect(review.status).to.equal("broken");
  });

  it("a provisioner that cannot run the step at all (lab error) is broken, never failed", async () => {
    const r = await installCheck(machine(() => stateOut({})), provisioner({ install: () => Promise.reject(new LabError("exec", "exit code could not be read", "x")) }), a);
    expect(r.status).to.equal("broken");
    expect(r.message).to.match(/could not be run: exit code could not be read/);
  });

  it("a service the install stopped fails it when the lab is healthy, is broken when the lab is not", async () => {
    let nginx: "running" | "stopped" = "running";
    const conn = machine(() => stateOut({}, nginx));
    const stops = () => provisioner({ install: () => ((nginx = "stopped"), { ok: true, message: "ok", output: "", durationMs: 1 }) });
    const failed = await installCheck(conn, stops(), a, { labHealthy: async () => true });
    expect(failed.status).to.equal("failed");
    expect(failed.stoppedServices).to.deep.equal(["nginx"]);
    nginx = "running";
    const broken = await installCheck(conn, stops(), a, { labHealthy: async () => false });
    expect(broken.status).to.equal("broken");
    expect(broken.message).to.match(/the lab itself is not healthy/);
  });

  it("readiness that times out is judged the same way; when a declared restart comes next, services are not judged yet", async () => {
    const notReady = async () => {
      throw new LabError("readiness-timeout", "web: tcp/80 refused", "x");
    };
    const r = await installCheck(machine(() => stateOut({})), provisioner(), a, { ready: notReady, labHealthy: async () => true });
    expect(r.status).to.equal("failed");
    expect(r.message).to.match(/not ready after the install: web: tcp\/80 refused/);
    const later = await installCheck(machine(() => stateOut({})), provisioner(), a, { ready: notReady, checkServices: false });
    expect(later.status).to.equal("passed");
  });

  it("uninstall: detection must say absent", async () => {
    const r = await uninstallCheck(machine(() => stateOut({})), provisioner({ detected: () => true }), a);
    expect(r.status).to.equal("failed");
    expect(r.message).to.equal("uninstall of PL-1 reported success but detection says it is still installed");
  });
});

describe("idempotence check", () => {
  it("a second application that changes the state fails with the diff; policy warn shows it without failing; off skips", async () => {
    let n = 1;
    const conn = machine(() => stateOut({ "/var/lib/pl/runs": [String(n), 2] }));
    const bump = provisioner({ install: () => (n++, { ok: true, message: "ok", output: "", durationMs: 1 }) });
    const r = await idempotenceCheck(conn, bump, a);
    expect(r.status).to.equal("failed");
    expect(r.changes).to.equal(1);
    expect(r.message).to.equal("not idempotent: applying PL-1 again changed the machine (1 change(s)): file /var/lib/pl/runs: changed");
    expect(r.attachments[1]!.content).to.equal(`--- after the first install\n+++ after the second install\n@@ files @@\n-/var/lib/pl/runs  f 0644 root:root 2 sha256:${H("1")}\n+/var/lib/pl/runs  f 0644 root:root 2 sha256:${H("2")}\n`);
    expect((await idempotenceCheck(conn, bump, a, { policy: "warn" })).status).to.equal("passed");
    expect((await idempotenceCheck(conn, bump, a, { policy: "off" })).status).to.equal("skipped");
  });

  it("a second application that fails is not idempotent either", async () => {
    const r = await idempotenceCheck(machine(() => stateOut({})), provisioner({ install: () => ({ ok: false, message: "dpkg -i exited 1", output: "", durationMs: 1 }) }), a);
    expect(r.status).to.equal("failed");
    expect(r.message).to.equal("applying PL-1 a second time failed: dpkg -i exited 1");
  });
});

describe("residue and rollback", () => {
  const before = parseState(stateOut({ "/etc/a": ["a", 1] }));
  const left = parseState(stateOut({ "/etc/a": ["a", 1], "/etc/left.conf": ["c", 3] }));

  it("residue: the state after uninstall differs from the one before install: failed, with the diff", () => {
    const r = residueCheck(before, left, { patch: "PL-1", machine: "web" });
    expect(r.status).to.equal("failed");
    expect(r.message).to.equal("residue: uninstalling PL-1 left 1 difference(s) from the state before install: file /etc/left.conf: added");
    expect(r.attachments[0]).to.deep.include({ name: "residue of PL-1 on web" });
    expect(residueCheck(before, before, { patch: "PL-1", machine: "web" }).status).to.equal("passed");
  });

  it("rollback: a restore that does not give the pre-run state is broken (the lab's), with the diff", () => {
    const r = rollbackCheck(before, left, { patch: "PL-1", machine: "web" });
    expect(r.status).to.equal("broken");
    expect(r.attachments[0]!.content).to.include("--- before the run\n+++ after the restore\n@@ files @@\n+/etc/left.conf");
  });

  it("states taken with different volatile lists compare on what both watched", () => {
    const wide = parseState(stateOut({ "/etc/a": ["a", 1], "/var/lib/nginx/tmp": ["t", 5] }), []);
    const narrow = parseState(stateOut({ "/etc/a": ["a", 1] }), ["/var/lib/nginx"]);
    expect(residueCheck(wide, narrow, { patch: "PL-1", machine: "web" }).status).to.equal("passed");
  });
});
