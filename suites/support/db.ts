// PostgreSQL from the client with psql, over TCP to the target's address (never the local
// socket), logged in as the lab role. The password travels in PGPASSWORD, never on a
// command line or in a message.
import { DB } from "../../harness/lab/roles/credentials.ts";
import { sh, timedOnClient } from "./client.ts";

export interface PsqlResult {
  ok: boolean;
  /** Rows of unaligned, tuples-only output, fields split on "|". */
  rows: string[][];
  /** psql's complaint, first lines (e.g. "connection to server ... failed: Connection refused"). */
  error: string;
  exitCode: number;
}

export interface PsqlOptions {
  /** SQL script fed on stdin (several statements, a transaction...). */
  sql: string;
  timeoutS?: number;
}

/** The psql command line for `ip` (no secrets in it), reading SQL from stdin. */
export function psqlCommand(ip: string, timeoutS = 5): string {
  return `PGCONNECT_TIMEOUT=${timeoutS} psql -h ${sh(ip)} -p 5432 -U ${sh(DB.user)} -d ${sh(DB.database)} -X -q -A -t -F '|' -v ON_ERROR_STOP=1 -f -`;
}

/** Runs a script as the lab role against the db machine at `ip`; the time it took is the service's. */
export async function psql(ip: string, o: PsqlOptions): Promise<PsqlResult> {
  const r = await timedOnClient(psqlCommand(ip, o.timeoutS), {
    env: { PGPASSWORD: DB.password },
    stdin: o.sql.endsWith("\n") ? o.sql : `${o.sql}\n`,
    timeoutMs: ((o.timeoutS ?? 5) + 25) * 1000,
  });
  return parsePsql(r.exitCode, r.stdout, r.stderr);
}

export function parsePsql(exitCode: number, stdout: string, stderr: string): PsqlResult {
  const rows = stdout.split("\n").filter((l) => l !== "").map((l) => l.split("|"));
  const error = stderr.trim().split("\n").slice(0, 3).join(" / ").replace(/^psql:\S*:\s*/, "");
  return { ok: exitCode === 0, rows, error, exitCode };
}

/** What went wrong, for a reviewer: a refused connection reads as "not listening". */
export function describePsqlError(r: PsqlResult, where: string): string {
  if (/Connection refused/i.test(r.error)) return `${where} refused the connection on port 5432: PostgreSQL is not listening on the lab network (${r.error})`;
  if (/timeout expired|timed out/i.test(r.error)) return `${where} did not answer on port 5432 in time (${r.error})`;
  if (/password authentication failed/i.test(r.error)) return `${where} refused the lab role's password login (${r.error})`;
  if (/no pg_hba.conf entry/i.test(r.error)) return `${where} does not allow the lab role to log in from the client (${r.error})`;
  return `${where}: psql exited ${r.exitCode}: ${r.error || "(no message)"}`;
}
