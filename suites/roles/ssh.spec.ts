// The ssh role as a user at the client machine meets it: an SSH connection opened from the
// client, a key login as the lab user with the key the client holds, a command run remotely.
// The host key must be the one the client already knows (its known_hosts, written when the
// lab came up), so a host key that changes in any phase of a run fails here.
import { expect } from "chai";
import ssh2 from "ssh2";
import { SSH } from "../../harness/lab/roles/credentials.ts";
import { check, smoke } from "../support/check.ts";
import { targetWithRole } from "../support/context.ts";
import { clientKey, fingerprintOf, knownHostKey, sshExec, sshLogin } from "../support/ssh.ts";

describe("ssh role", function () {
  this.timeout(60_000);
  let ip = "";
  let names: string[] = [];
  let where = "";
  let key = "";

  before(async function () {
    const t = targetWithRole("ssh");
    ip = t.ip;
    names = [t.fqdn, t.name, t.ip];
    where = `${t.fqdn} (${t.ip})`;
    key = await clientKey();
  });

  smoke("ssh lets the lab user log in with the client's key and run a command", async function () {
    const s = await sshLogin(ip, SSH.user, key);
    expect(s.error, `${where}: ${s.error}`).to.equal(undefined);
    try {
      const r = await sshExec(s.client!, "id -un && echo patchlab-ssh-ok");
      expect(r.code, `${where}: \`id -un && echo patchlab-ssh-ok\` exited ${r.code}${r.signal ? ` (signal ${r.signal})` : ""}; stderr: ${r.stderr.trim().slice(0, 200)}`).to.equal(0);
      expect(r.stdout, `${where}: the command printed ${JSON.stringify(r.stdout.slice(0, 200))}`).to.equal(`${SSH.user}\npatchlab-ssh-ok\n`);
    } finally {
      s.client!.end();
    }
  });

  check("ssh reports a remote command's exit code and its output and errors apart", async function () {
    const s = await sshLogin(ip, SSH.user, key);
    expect(s.error, `${where}: ${s.error}`).to.equal(undefined);
    try {
      const r = await sshExec(s.client!, "echo to-stdout; echo to-stderr >&2; exit 3");
      expect(r.code, `${where}: the remote command's exit code came back as ${r.code}, not 3`).to.equal(3);
      expect(r.stdout, `${where}: stdout of the remote command`).to.equal("to-stdout\n");
      expect(r.stderr, `${where}: stderr of the remote command`).to.equal("to-stderr\n");
    } finally {
      s.client!.end();
    }
  });

  check("ssh presents the host key the client knows (known_hosts)", async function () {
    const known = await knownHostKey(names);
    if (!known) throw new Error(`the client's known_hosts has no key for ${names.join(", ")}: the lab was not provisioned with this ssh machine`);
    const s = await sshLogin(ip, SSH.user, key);
    s.client?.end();
    expect(s.hostKey, `${where} presented no host key: ${s.error ?? "no handshake"}`).to.not.equal(undefined);
    const presented = await fingerprintOf(s.hostKey!);
    const expected = await fingerprintOf(known);
    expect(presented, `${where} presents host key ${presented}, but the client knows it as ${expected}: a user would get "REMOTE HOST IDENTIFICATION HAS CHANGED"`).to.equal(expected);
  });

  check("ssh refuses a key it does not know", async function () {
    const stranger = ssh2.utils.generateKeyPairSync("ed25519").private;
    const s = await sshLogin(ip, SSH.user, stranger);
    s.client?.end();
    expect(s.error, `${where} let ${SSH.user} in with a key nobody authorized`).to.not.equal(undefined);
    expect(s.error, `${where}: a login with an unknown key failed, but not because the server refused the key: ${s.error}`).to.match(/refused the key login/);
  });
});
