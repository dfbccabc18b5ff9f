// After a crash, the ssh driver's run snapshots whose owner is gone are restored through the
// restore hook recorded with them, then deleted; live runs and manual snapshots are left alone.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { expect } from "chai";
import { ownerToken } from "../../../harness/core/owner.ts";
import { reapSshSnapshots, sshIndexDir } from "../../../harness/lab/drivers/ssh-driver.ts";

describe("ssh driver: reaping run snapshots of dead runs", () => {
  let root: string;
  const saved = process.env.PATCHLAB_STATE_DIR;
  beforeEach(() => {
    root = fs.mkdtempSync(path.join(os.tmpdir(), "patchlab-sshreap-"));
    process.env.PATCHLAB_STATE_DIR = root;
  });
  afterEach(() => {
    if (saved === undefined) delete process.env.PATCHLAB_STATE_DIR;
    else process.env.PATCHLAB_STATE_DIR = saved;
    fs.rmSync(root, { recursive: true, force: true });
  });

  it("restores and deletes a dead run's snapshot, keeps a live run's and a manual one", async () => {
    const log = path.join(root, "hooks.log");
    const hook = (op: string) => ({ argv: ["sh", "-c", `echo ${op} "$1" >> ${log}`, "sh", "{machine}:{label}"], vars: { lab: "l", machine: "web", host: "h", port: "22", user: "root", label: "" }, timeoutMs: 5000 });
    const entry = (label: string, owner: string | undefined, runId?: string) => {
      const h = (op: string) => ({ ...hook(op), vars: { ...hook(op).vars, label } });
      return { ref: { lab: "l", machine: "web", label, ref: label, createdAt: "t", ...(runId ? { runId } : {}) }, ...(owner ? { owner } : {}), restoreHook: h("restore"), deleteHook: h("delete") };
    };
    const dead = ownerToken(4_000_000); // beyond pid_max: never a live process
    fs.mkdirSync(sshIndexDir(), { recursive: true });
    fs.writeFileSync(path.join(sshIndexDir(), "l.json"), JSON.stringify([entry("run-dead", dead, "r1"), entry("run-live", ownerToken(), "r2"), entry("manual", dead)]));
    const r = await reapSshSnapshots();
    expect(r).to.deep.equal({ restored: ["l/web:run-dead"], failed: [] });
    expect(fs.readFileSync(log, "utf8")).to.equal("restore web:run-dead\ndelete web:run-dead\n");
    const left = JSON.parse(fs.readFileSync(path.join(sshIndexDir(), "l.json"), "utf8")) as { ref: { label: string } }[];
    expect(left.map((e) => e.ref.label)).to.deep.equal(["run-live", "manual"]);
  });

  it("a restore hook that fails is reported and its snapshot kept for the next attempt", async () => {
    const dead = ownerToken(4_000_000);
    fs.mkdirSync(sshIndexDir(), { recursive: true });
    const vars = { lab: "l", machine: "web", host: "h", port: "22", user: "root", label: "run-x" };
    fs.writeFileSync(path.join(sshIndexDir(), "l.json"), JSON.stringify([{ ref: { lab: "l", machine: "web", label: "run-x", ref: "run-x", createdAt: "t", runId: "r" }, owner: dead, restoreHook: { argv: ["sh", "-c", "echo hypervisor down >&2; exit 1"], vars, timeoutMs: 5000 } }]));
    const r = await reapSshSnapshots();
    expect(r.restored).to.deep.equal([]);
    expect(r.failed[0]!.snapshot).to.equal("l/web:run-x");
    expect(r.failed[0]!.error).to.match(/restore hook of web .* exited 1: hypervisor down/);
    expect(JSON.parse(fs.readFileSync(path.join(sshIndexDir(), "l.json"), "utf8"))).to.have.length(1);
  });
});
