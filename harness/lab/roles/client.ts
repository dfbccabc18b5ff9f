// client: a user's computer. Runs no service; provision makes it trust the lab CA.
import { command } from "../../readiness/wait.ts";
import { mustExec, waitBooted } from "./common.ts";
import type { RoleModule } from "./types.ts";

export const CLIENT_CA_PATH = "/usr/local/share/ca-certificates/patchlab-lab-ca.crt";

export const clientRole: RoleModule = {
  role: "client",
  readiness: () => [command("true", "client answers")],
  async provision(conn, _m, ctx) {
    await waitBooted(conn);
    await conn.upload([{ path: CLIENT_CA_PATH, content: ctx.pki.caCertPem, mode: 0o644 }]);
    await mustExec(conn, "update-ca-certificates", "update-ca-certificates >/dev/null");
  },
};
