// ssh: OpenSSH's sshd, for key logins of the lab user. Provision installs the machine's own
// host key (made by the harness, see ssh-keys.ts; the clients' known_hosts lists it) and the
// lab user's public key, then restarts sshd. Works on any image with openssh-server, so any
// machine may carry the role beside its others. Ready when port 22 answers with an SSH banner.
import net from "node:net";
import { LabError } from "../../core/errors.ts";
import type { WaitStrategy } from "../../readiness/wait.ts";
import { mustExec, pollUntil, shq, waitBooted } from "./common.ts";
import { SSH } from "./credentials.ts";
import { labSshKeys } from "./ssh-keys.ts";
import type { RoleModule } from "./types.ts";

export const HOST_KEY_PATH = "/etc/ssh/ssh_host_ed25519_key";

/** Port 22 answers with an SSH-2.0 identification line (probed from the harness). */
export function sshBanner(port = 22): WaitStrategy {
  return {
    describe: () => `tcp/${port} answering an SSH banner`,
    probe: (t) =>
      new Promise((resolve) => {
        const s = net.connect({ host: t.ip, port, timeout: 2000 });
        let got = "";
        const done = (ok: boolean, detail: string) => {
          s.destroy();
          resolve({ ok, detail });
        };
        s.on("data", (b) => {
          got += b.toString("latin1");
          if (got.includes("\n")) done(got.startsWith("SSH-2.0-"), `tcp/${port}: ${JSON.stringify(got.split("\n")[0]!.trim().slice(0, 60))}`);
        });
        s.once("timeout", () => done(false, `tcp/${port}: no banner within 2 s`));
        s.once("error", (e) => done(false, `tcp/${port}: ${(e as NodeJS.ErrnoException).code ?? e.message}`));
        s.once("end", () => done(false, `tcp/${port}: closed without a banner`));
      }),
  };
}

export const sshRole: RoleModule = {
  role: "ssh",
  readiness: () => [sshBanner()],
  async provision(conn, m) {
    await waitBooted(conn);
    const keys = labSshKeys(m.lab.name);
    const host = keys.host(m.spec.name);
    const home = `/home/${SSH.user}`;
    await mustExec(conn, "lab user", `id -u ${SSH.user} >/dev/null 2>&1 || useradd --create-home --shell /bin/bash ${SSH.user}`);
    await conn.upload([
      { path: HOST_KEY_PATH, content: host.private, mode: 0o600 },
      { path: `${HOST_KEY_PATH}.pub`, content: `${host.public}\n`, mode: 0o644 },
      { path: `${home}/.ssh/authorized_keys`, content: `${keys.user.public}\n`, mode: 0o600 },
    ]);
    await mustExec(
      conn,
      "host key and authorized_keys",
      `rm -f /etc/ssh/ssh_host_rsa_key* /etc/ssh/ssh_host_ecdsa_key* && chown root:root ${HOST_KEY_PATH}* && ` +
        `chown -R ${SSH.user}:${SSH.user} ${shq(`${home}/.ssh`)} && chmod 0700 ${shq(`${home}/.ssh`)} && sshd -t`,
    );
    await mustExec(conn, "sshd restart", "/etc/init.d/ssh restart >/dev/null");
    const ok = await pollUntil(async () => (await conn.exec(`ssh-keyscan -t ed25519 127.0.0.1 2>/dev/null | grep -qF ${shq(host.public.split(" ")[1]!)}`, { timeoutMs: 5000 })).exitCode === 0, 15_000, 200);
    if (!ok) {
      throw new LabError("machine-start", `sshd on ${m.spec.name} does not present the lab's host key after restart`, "look at `docker logs` of the machine and run `sshd -t` in it", { machine: m.spec.name });
    }
  },
};
