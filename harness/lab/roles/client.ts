// client: a user's computer. Runs no service; provision makes it trust the lab CA, gives it
// the lab user's SSH key and a known_hosts listing every ssh machine's host key.
import { command } from "../../readiness/wait.ts";
import { machinesWithRole, mustExec, waitBooted } from "./common.ts";
import { knownHostsLine, labSshKeys } from "./ssh-keys.ts";
import type { RoleModule } from "./types.ts";

export const CLIENT_CA_PATH = "/usr/local/share/ca-certificates/patchlab-lab-ca.crt";
/** Where the client keeps the lab user's private key and the ssh machines' host keys (root's ~/.ssh). */
export const CLIENT_SSH_KEY = "/root/.ssh/id_ed25519";
export const CLIENT_KNOWN_HOSTS = "/root/.ssh/known_hosts";

export const clientRole: RoleModule = {
  role: "client",
  readiness: () => [command("true", "client answers")],
  async provision(conn, m, ctx) {
    await waitBooted(conn);
    const ssh = machinesWithRole(ctx.machines, "ssh");
    const keys = labSshKeys(m.lab.name);
    const known = ssh.map((s) => knownHostsLine([s.fqdn, s.spec.name, s.ip], keys.host(s.spec.name).public)).join("\n");
    await conn.upload([
      { path: CLIENT_CA_PATH, content: ctx.pki.caCertPem, mode: 0o644 },
      { path: CLIENT_SSH_KEY, content: keys.user.private, mode: 0o600 },
      { path: `${CLIENT_SSH_KEY}.pub`, content: `${keys.user.public}\n`, mode: 0o644 },
      { path: CLIENT_KNOWN_HOSTS, content: known ? `${known}\n` : "", mode: 0o644 },
    ]);
    await mustExec(conn, "ssh directory", "chmod 0700 /root/.ssh");
    await mustExec(conn, "update-ca-certificates", "update-ca-certificates >/dev/null");
  },
};
