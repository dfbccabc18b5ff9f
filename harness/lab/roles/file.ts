// file: Samba with the share [shared]. Ready when 445 accepts and the lab user can list the
// share with smbclient.
import { command, port } from "../../readiness/wait.ts";
import type { RoleModule } from "./types.ts";

export const SHARE = "shared";
export const SMB_USER = "labuser";
export const SMB_PASSWORD = "labpass";

export const fileRole: RoleModule = {
  role: "file",
  logs: [{ path: "/var/log/samba/log.*" }],
  readiness: () => [
    port(445),
    command(
      `smbclient -t 3 //127.0.0.1/${SHARE} -U ${SMB_USER}%${SMB_PASSWORD} -c 'ls readme.txt' >/dev/null`,
      `smbclient lists //127.0.0.1/${SHARE}/readme.txt`,
    ),
  ],
};
