// The lab's SSH keys are made once per lab and then reused: provisioning twice (or from two
// worktrees sharing a state dir) installs the same keys, and each ssh machine has its own.
import { expect } from "chai";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import ssh2 from "ssh2";
import { knownHostsLine, labSshKeys } from "./ssh-keys.ts";

describe("roles: lab SSH keys", () => {
  let dir: string;
  beforeEach(() => (dir = fs.mkdtempSync(path.join(os.tmpdir(), "patchlab-sshkeys-"))));
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it("makes an ed25519 user key and per-machine host keys once, then returns the same ones", () => {
    const a = labSshKeys("lab1", dir);
    const user = a.user;
    expect(user.private).to.match(/^-----BEGIN OPENSSH PRIVATE KEY-----/);
    expect(user.public).to.match(/^ssh-ed25519 \S+ labuser@lab1$/);
    expect((ssh2.utils.parseKey(user.private) as { type: string }).type).to.equal("ssh-ed25519");
    const h1 = a.host("ssh");
    expect(a.host("other").public).to.not.equal(h1.public);
    const b = labSshKeys("lab1", dir);
    expect(b.user).to.deep.equal(user);
    expect(b.host("ssh")).to.deep.equal(h1);
    expect(labSshKeys("lab2", dir).user.public).to.not.equal(user.public);
    expect(fs.statSync(path.join(dir, "ssh", "lab1", "labuser_ed25519")).mode & 0o777).to.equal(0o600);
  });

  it("known_hosts lines list every name of the machine and the key without its comment", () => {
    expect(knownHostsLine(["ssh.lab.test", "ssh", "10.0.0.5"], "ssh-ed25519 AAAAkey root@ssh")).to.equal("ssh.lab.test,ssh,10.0.0.5 ssh-ed25519 AAAAkey");
  });
});
