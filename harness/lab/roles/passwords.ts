// Sets the lab's passwords (credentials.ts, from the lab's secrets) in a running machine:
// the images are built with a throw-away password, the lab's own is applied by every
// `lab up` (provision, and again on a reused machine), so a new secret never needs an image
// rebuild and a lab already up with an older one is brought in line. Each step first checks
// whether the current password already works and changes nothing when it does. Passwords
// travel in the command's environment or on stdin, never on a command line or in a message.
import { LabError } from "../../core/errors.ts";
import type { Connection } from "../types.ts";
import { pollUntil, shq } from "./common.ts";
import { DB, SMB, WIKI } from "./credentials.ts";

/** Runs a step; a failure names the step and the exit code only (its output may quote a secret). */
async function step(conn: Connection, what: string, cmd: string, o: { env: Record<string, string>; stdin?: string }): Promise<void> {
  const r = await conn.exec(["sh", "-c", cmd], { timeoutMs: 60_000, ...o });
  if (r.exitCode !== 0) {
    throw new LabError("machine-start", `setting the lab's ${what} password on ${conn.machine} failed (exit ${r.exitCode})`, "look at the machine's logs (`docker exec` into it); the image recipe may need fixing", { machine: conn.machine });
  }
}

const works = async (conn: Connection, cmd: string, env: Record<string, string>) => (await conn.exec(["sh", "-c", cmd], { timeoutMs: 15_000, env }).catch(() => undefined))?.exitCode === 0;

/** PostgreSQL: ALTER ROLE over the local socket as postgres; psql reads the password from the environment (\getenv). */
export async function applyDbPassword(conn: Connection): Promise<void> {
  const env = { PGPASSWORD: DB.password };
  if (!(await pollUntil(async () => works(conn, "pg_isready -q -h 127.0.0.1", {}), 60_000, 250))) {
    throw new LabError("readiness-timeout", `PostgreSQL on ${conn.machine} did not accept connections within 60 s`, "look at /var/log/postgresql/ on the machine", { machine: conn.machine });
  }
  if (await works(conn, `PGCONNECT_TIMEOUT=2 psql -X -h 127.0.0.1 -U ${shq(DB.user)} -d ${shq(DB.database)} -tAc 'select 1' >/dev/null 2>&1`, env)) return;
  const sql = `\\getenv pw PGPASSWORD\nALTER ROLE "${DB.user}" PASSWORD :'pw';\n`;
  await step(conn, "database", "runuser -u postgres -- psql -X -q -v ON_ERROR_STOP=1 -f - >/dev/null 2>&1", { env, stdin: sql });
}

/** Samba: smbpasswd reads the password twice from stdin. */
export async function applySmbPassword(conn: Connection): Promise<void> {
  const env = { PASSWD: SMB.password };
  if (await works(conn, `smbclient -t 3 //127.0.0.1/${shq(SMB.share)} -U ${shq(SMB.user)} -c 'ls readme.txt' >/dev/null 2>&1`, env)) return;
  await step(conn, "file share", `printf '%s\\n%s\\n' "$PASSWD" "$PASSWD" | smbpasswd -s -a ${shq(SMB.user)} >/dev/null 2>&1`, { env });
}

// DokuWiki's plain auth: users.auth.php lines "user:bcrypt-hash:name:mail:groups". The hash
// is replaced in place (owner and mode kept) unless it already matches the password.
const WIKI_SET = `<?php
$f = "/var/lib/dokuwiki/acl/users.auth.php";
$u = getenv("WIKI_USER"); $p = getenv("WIKI_PASSWORD");
$lines = file($f); $found = false; $changed = false;
foreach ($lines as $i => $l) {
  $x = explode(":", $l);
  if (count($x) < 5 || $x[0] !== $u) continue;
  $found = true;
  if (password_verify($p, $x[1])) continue;
  $x[1] = password_hash($p, PASSWORD_BCRYPT);
  $lines[$i] = implode(":", $x); $changed = true;
}
if (!$found) exit(3);
if ($changed && file_put_contents($f, implode("", $lines), LOCK_EX) === false) exit(4);
`;

export async function applyWikiPassword(conn: Connection): Promise<void> {
  await step(conn, "wiki", "php", { env: { WIKI_USER: WIKI.user, WIKI_PASSWORD: WIKI.password }, stdin: WIKI_SET });
}
