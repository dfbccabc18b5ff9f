// db: PostgreSQL 15 with the sample database `inventory`. Ready when 5432 accepts and the lab
// user can query the sample table over TCP with its password (the path clients use).
import { port } from "../../readiness/wait.ts";
import { commandWithSecrets } from "./common.ts";
import { DB } from "./credentials.ts";
import type { RoleModule } from "./types.ts";

export const dbRole: RoleModule = {
  role: "db",
  logs: [{ path: "/var/log/postgresql/*.log", errorPattern: "\\b(ERROR|FATAL|PANIC):" }],
  readiness: () => [
    port(5432),
    commandWithSecrets(
      `PGCONNECT_TIMEOUT=2 psql -h 127.0.0.1 -U ${DB.user} -d ${DB.database} -tAc 'select count(*) from assets'`,
      { PGPASSWORD: DB.password },
      `psql as ${DB.user} queries ${DB.database}.assets`,
    ),
  ],
};
