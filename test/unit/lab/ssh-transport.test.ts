// The SSH Connection against a real SSH server on loopback (ssh2's server running real
// commands): exit codes and separate streams, argv quoting, stdin, env, timeouts, upload and
// download, host keys (known_hosts, trust on first use, a changed key), secrets kept out of
// errors and logs, and reboots that come back or do not.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { expect } from "chai";
import { LabError } from "../../../harness/core/errors.ts";
import type { Logger } from "../../../harness/core/log.ts";
import { SshConnection, type SshEndpoint } from "../../../harness/lab/transports/ssh.ts";
import { keyPair, startFakeSshd, type FakeSshd } from "./fake-sshd.ts";

async function rejection(p: Promise<unknown>): Promise<LabError> {
  try {
    await p;
  } catch (e) {
    if (e instanceof LabError) return e;
    throw e;
  }
  throw new Error("expected a LabError");
}

function recordingLogger(): Logger & { lines: string[] } {
  const lines: string[] = [];
  const rec = (msg: string, fields?: object) => { lines.push(`${msg} ${JSON.stringify(fields ?? {})}`); };
  return { lines, debug: rec, info: rec, warn: rec, error: rec, file: undefined };
}

describe("ssh transport (real SSH server on loopback)", function () {
  this.timeout(20_000);
  const client = keyPair();
  let sshd: FakeSshd;
  let dir: string;
  let knownHosts: string;

  const endpoint = (over: Partial<SshEndpoint> = {}): SshEndpoint => ({
    host: "127.0.0.1",
    port: sshd.port,
    user: "root",
    knownHostsFile: knownHosts,
    trustOnFirstUse: false,
    credentials: () => ({ privateKey: Buffer.from(client.privateKey), source: "test key" }),
    ...over,
  });
  const conn = (over: Partial<SshEndpoint> = {}, extra: Partial<ConstructorParameters<typeof SshConnection>[0]> = {}) =>
    new SshConnection({ machine: "web", endpoint: endpoint(over), ...extra });

  beforeEach(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "patchlab-ssh-"));
    sshd = await startFakeSshd({ clientPublicKey: client.publicKey, password: "s3cret-Pa55" });
    knownHosts = path.join(dir, "known_hosts");
    fs.writeFileSync(knownHosts, `[127.0.0.1]:${sshd.port} ${sshd.hostKeyPublic}\n`);
  });
  afterEach(async () => {
    await sshd.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it("runs commands with their exit code and stdout and stderr kept apart", async () => {
    const c = conn();
    try {
      const r = await c.exec("echo out; echo err >&2; exit 3");
      expect(r).to.include({ exitCode: 3, stdout: "out\n", stderr: "err\n" });
      const ok = await c.exec(["printf", "%s|", "two words", "it's", "$HOME", "*"]);
      expect(ok.stdout).to.equal("two words|it's|$HOME|*|"); // argv reaches the command verbatim
      expect((await c.exec("cat", { stdin: "from stdin" })).stdout).to.equal("from stdin");
      expect((await c.exec(["sh", "-c", 'echo "$A-$B"'], { env: { A: "x y", B: "1" } })).stdout).to.equal("x y-1\n");
      expect((await c.exec("kill -SEGV $$")).exitCode).to.equal(128 + 11); // killed by a signal: it ran
    } finally {
      c.close();
    }
  });

  it("a command that outlives its timeout is a LabError, not a result", async () => {
    const c = conn();
    try {
      const t0 = Date.now();
      const e = await rejection(c.exec("sleep 10", { timeoutMs: 300 }));
      expect(e.kind).to.equal("exec");
      expect(e.message).to.match(/timed out after 300 ms: sleep 10/);
      expect(Date.now() - t0).to.be.lessThan(3000);
    } finally {
      c.close();
    }
  });

  it("a command whose exit status never arrives (the session died) is a LabError", async () => {
    const c = conn();
    try {
      const e = await rejection(c.exec("echo patchlab-test-drop-session"));
      expect(e.kind).to.equal("exec");
      expect(e.message).to.match(/without an exit status/);
      // The next command opens a new session.
      expect((await c.exec("echo again")).stdout).to.equal("again\n");
    } finally {
      c.close();
    }
  });

  it("uploads files (creating directories, with their mode) and downloads them byte for byte", async () => {
    const c = conn();
    try {
      const target = path.join(dir, "deep", "er", "file.bin");
      const content = Buffer.from([0, 1, 2, 255, 10, 13, 0x27, 0x22]);
      await c.upload([{ path: target, content, mode: 0o600 }, { path: path.join(dir, "b.txt"), content: "hello" }]);
      expect(fs.readFileSync(target).equals(content)).to.equal(true);
      expect(fs.statSync(target).mode & 0o777).to.equal(0o600);
      expect(fs.statSync(path.join(dir, "b.txt")).mode & 0o777).to.equal(0o644);
      expect((await c.download(target)).equals(content)).to.equal(true);
      const e = await rejection(c.download(path.join(dir, "missing")));
      expect(e.message).to.match(/download of .*missing from web failed/);
      await rejection(c.upload([{ path: "relative/x", content: "x" }]));
    } finally {
      c.close();
    }
  });

  it("refuses a host that is not in known_hosts unless trust on first use is on, then records it", async () => {
    fs.writeFileSync(knownHosts, "");
    const strict = conn();
    const e = await rejection(strict.exec("true"));
    expect(e.message).to.match(/is not in .*known_hosts \(it presented ssh-ed25519 SHA256:/);
    expect(e.remedy).to.match(/ssh-keyscan|trustOnFirstUse: true/);
    expect(sshd.commands).to.deep.equal([]); // nothing ran on an unverified host

    const tofu = conn({ trustOnFirstUse: true });
    try {
      expect((await tofu.exec("echo hi")).stdout).to.equal("hi\n");
    } finally {
      tofu.close();
    }
    expect(fs.readFileSync(knownHosts, "utf8")).to.equal(`[127.0.0.1]:${sshd.port} ${sshd.hostKeyPublic}\n`);
    const again = conn(); // now known: strict checking passes
    try {
      expect((await again.exec("echo ok")).exitCode).to.equal(0);
    } finally {
      again.close();
    }
  });

  it("refuses a host whose key changed, even with trust on first use, and does not wait for it", async () => {
    const port = sshd.port;
    await sshd.close();
    sshd = await startFakeSshd({ clientPublicKey: client.publicKey }); // new host key
    fs.writeFileSync(knownHosts, `[127.0.0.1]:${sshd.port} ${keyPair().publicKey.split(" ").slice(0, 2).join(" ")}\n`);
    const c = conn({ trustOnFirstUse: true });
    const t0 = Date.now();
    const e = await rejection(c.waitUntilReady(Date.now() + 10_000));
    expect(e.message).to.match(/host key of \[127\.0\.0\.1\]:\d+ changed/);
    expect(Date.now() - t0, "a changed key is fatal, not waited on").to.be.lessThan(3000);
    expect(fs.readFileSync(knownHosts, "utf8").trim().split("\n")).to.have.length(1); // nothing recorded
    expect(port).to.be.a("number");
  });

  it("keeps passwords and keys out of error messages and logs", async () => {
    const log = recordingLogger();
    const wrong = "wrong-Secret-9876";
    const c = conn({ credentials: () => ({ password: wrong, source: "secrets file /x/secrets.yaml, entry web" }) }, { log });
    const e = await rejection(c.exec("true"));
    expect(e.message).to.match(/SSH login to web as root@127\.0\.0\.1:\d+ was refused \(credentials from secrets file \/x\/secrets\.yaml, entry web\)/);
    const everything = [e.message, e.remedy, e.describe(), String(e.cause ?? ""), ...log.lines].join("\n");
    expect(everything).to.not.contain(wrong);
    expect(everything).to.not.contain(client.privateKey.split("\n")[1]!);

    const good = conn({ credentials: () => ({ password: "s3cret-Pa55", source: "env" }) }, { log });
    try {
      expect((await good.exec("echo in")).stdout).to.equal("in\n");
    } finally {
      good.close();
    }
    expect(log.lines.join("\n")).to.not.contain("s3cret-Pa55");
  });

  it("waits until the machine answers, or reports a readiness timeout naming the address", async () => {
    const c = conn({ port: 1 }); // nothing listens there
    const t0 = Date.now();
    const e = await rejection(c.waitUntilReady(Date.now() + 1500));
    expect(e.kind).to.equal("readiness-timeout");
    expect(e.message).to.match(/did not answer over SSH before its deadline \(SSH at root@127\.0\.0\.1:1; last seen: .*ECONNREFUSED/);
    expect(Date.now() - t0).to.be.within(1000, 4000);
    let rolesChecked = false;
    const ok = conn({}, { ready: async () => { rolesChecked = true; } });
    try {
      await ok.waitUntilReady(Date.now() + 5000);
      expect(rolesChecked).to.equal(true);
    } finally {
      ok.close();
    }
  });

  it("restart reboots, waits for a new boot id, then for the roles", async () => {
    let rolesChecked = 0;
    const c = conn({}, { ready: async () => { rolesChecked++; } });
    try {
      const before = sshd.bootId;
      await c.restart(Date.now() + 10_000);
      expect(sshd.bootId).to.not.equal(before);
      expect(await c.bootId()).to.equal(sshd.bootId);
      expect(rolesChecked).to.equal(1);
      expect(sshd.commands.some((x) => x.includes("systemctl reboot"))).to.equal(true);
    } finally {
      c.close();
    }
  });

  it("a machine that does not come back after a reboot is a LabError readiness-timeout within its deadline", async () => {
    sshd.afterReboot = "never";
    const c = conn();
    const t0 = Date.now();
    const e = await rejection(c.restart(Date.now() + 2000));
    expect(e.kind).to.equal("readiness-timeout");
    expect(e.message).to.match(/web did not come back after a reboot before its deadline/);
    expect(Date.now() - t0).to.be.within(1500, 5000);
    c.close();
  });

  it("a machine whose VM died ends the wait at once", async () => {
    sshd.afterReboot = "never";
    const c = conn({}, { gone: async () => "the QEMU process exited", consoleHint: "/tmp/serial.log" });
    const t0 = Date.now();
    const e = await rejection(c.restart(Date.now() + 20_000));
    expect(e.kind).to.equal("machine-start");
    expect(e.message).to.match(/did not come back after a reboot: the QEMU process exited/);
    expect(e.remedy).to.contain("/tmp/serial.log");
    expect(Date.now() - t0).to.be.lessThan(5000);
  });

  it("builds command lines with sudo for a non-root login and runuser for another user", () => {
    const c = conn({ user: "ops" });
    expect(c.commandLine(["dpkg", "-i", "/x y.deb"])).to.equal("sudo -n -- dpkg -i '/x y.deb'");
    expect(c.commandLine("echo $A", { env: { A: "1" } })).to.equal("sudo -n -- env A=1 sh -c 'echo $A'");
    expect(conn().commandLine(["id"], { user: "postgres" })).to.equal("runuser -u postgres -- id");
    expect(conn().commandLine(["id"])).to.equal("id");
  });
});
