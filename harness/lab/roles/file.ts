// file: Samba with the share [shared]. Ready when 445 accepts and the lab user can list the
// share with smbclient.
import { port } from "../../readiness/wait.ts";
import { commandWithSecrets } from "./common.ts";
import { SMB } from "./credentials.ts";
import type { RoleModule } from "./types.ts";

export const fileRole: RoleModule = {
  role: "file",
  logs: [{ path: "/var/log/samba/log.*" }],
  readiness: () => [
    port(445),
    commandWithSecrets(
      `smbclient -t 3 //127.0.0.1/${SMB.share} -U ${SMB.user} -c 'ls readme.txt' >/dev/null`,
      { PASSWD: SMB.password },
      `smbclient lists //127.0.0.1/${SMB.share}/readme.txt`,
    ),
  ],
};
