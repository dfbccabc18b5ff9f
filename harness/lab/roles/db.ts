// db: PostgreSQL 15 with the sample database `inventory`. Ready when 5432 accepts and the lab
// user can query the sample table over TCP with its password (the path clients use).
import { command, port } from "../../readiness/wait.ts";
import type { RoleModule } from "./types.ts";

export const DB_NAME = "inventory";
export const DB_USER = "labuser";
export const DB_PASSWORD = "labpass";

export const dbRole: RoleModule = {
  role: "db",
  logs: [{ path: "/var/log/postgresql/*.log", errorPattern: "\\b(ERROR|FATAL|PANIC):" }],
  readiness: () => [
    port(5432),
    command(
      `PGPASSWORD=${DB_PASSWORD} PGCONNECT_TIMEOUT=2 psql -h 127.0.0.1 -U ${DB_USER} -d ${DB_NAME} -tAc 'select count(*) from assets'`,
      `psql as ${DB_USER} queries ${DB_NAME}.assets`,
    ),
  ],
};
