// The db role as an application on the network uses it: psql from the client over TCP to the
// target's address, logged in as the lab role with its password (never the local socket,
// never a superuser). Writes happen only inside transactions that are rolled back, so a
// check leaves the sample data as it found it.
import { expect } from "chai";
import { randomBytes } from "node:crypto";
import { DB } from "../../harness/lab/roles/credentials.ts";
import { check, serviceTime, smoke } from "../support/check.ts";
import { sh, timedOnClient } from "../support/client.ts";
import { targetWithRole } from "../support/context.ts";
import { describePsqlError, parsePsql, psql, psqlCommand } from "../support/db.ts";

/** Rows the image's sample data (lab-config/images/db/files/inventory.sql) holds. */
const SAMPLE_HOSTS = ["app", "client", "db", "dns", "file", "web"];

describe("db role", function () {
  this.timeout(60_000);
  let ip = "";
  let where = "";

  before(function () {
    const t = targetWithRole("db");
    ip = t.ip;
    where = `${t.fqdn} (${t.ip})`;
  });

  smoke("db accepts a network login as the lab role and answers a query", async function () {
    const r = await psql(ip, { sql: "select current_user, inet_server_addr(), 6 * 7;" });
    expect(r.ok, describePsqlError(r, where)).to.equal(true);
    const [user, server, answer] = r.rows[0] ?? [];
    expect(user, `${where}: logged in as ${user}, not the lab role ${DB.user}`).to.equal(DB.user);
    // inet_server_addr() is null on a local socket: this proves the session came over the network.
    expect(server, `${where}: the session is not a TCP connection to ${ip} (server address ${server || "none"})`).to.equal(ip);
    expect(answer, `${where}: select 6 * 7 answered ${answer}`).to.equal("42");
  });

  check("db serves the sample data to the lab role", async function () {
    const r = await psql(ip, { sql: "select hostname, site from assets order by hostname;" });
    expect(r.ok, describePsqlError(r, where)).to.equal(true);
    const hosts = r.rows.map((row) => row[0]);
    expect(hosts, `${where}: ${DB.database}.assets holds ${hosts.join(", ") || "no rows"}`).to.include.members(SAMPLE_HOSTS);
    expect(r.rows.every((row) => (row[1] ?? "") !== ""), `${where}: some assets have no site`).to.equal(true);
  });

  check("db writes and reads back a row inside a transaction that is rolled back", async function () {
    const marker = `patchlab-check-${randomBytes(4).toString("hex")}`;
    const r = await psql(ip, {
      sql: [
        "begin;",
        `insert into assets (hostname, site) values ('${marker}', 'lab') returning id;`,
        `select hostname, site from assets where hostname = '${marker}';`,
        "rollback;",
      ].join("\n"),
    });
    expect(r.ok, describePsqlError(r, where)).to.equal(true);
    expect(r.rows.length, `${where}: insert + select in one transaction returned ${JSON.stringify(r.rows)}`).to.equal(2);
    expect(r.rows[1], `${where}: the row written in the transaction reads back as ${JSON.stringify(r.rows[1])}`).to.deep.equal([marker, "lab"]);
    // A second session must not see it: the rollback really undid the write.
    const after = await psql(ip, { sql: `select count(*) from assets where hostname = '${marker}';` });
    expect(after.ok, describePsqlError(after, where)).to.equal(true);
    expect(after.rows[0]?.[0], `${where}: the rolled-back row is still there afterwards`).to.equal("0");
  });

  check("db serves a second session while another one is open", async function () {
    // Session A holds a transaction open for a few seconds; session B, started meanwhile,
    // must get its answer and see A in pg_stat_activity (its own role's sessions are visible).
    const tag = `patchlab-a-${randomBytes(3).toString("hex")}`;
    const a = `begin; select '${tag}', pg_sleep(3); commit;`;
    const b = `select count(*) from pg_stat_activity where usename = current_user and pid <> pg_backend_pid() and query like '%${tag}%' and state = 'active';`;
    const cmd = psqlCommand(ip);
    const r = await timedOnClient(
      `printf '%s\\n' ${sh(a)} | ${cmd} >/tmp/${tag}.a 2>&1 & sleep 1; ` +
        `s=$(date +%s%N); printf '%s\\n' ${sh(b)} | ${cmd}; rc=$?; e=$(date +%s%N); ` +
        `wait $!; ra=$?; echo "a-exit=$ra"; echo "b-ns=$((e - s))"; cat /tmp/${tag}.a >&2; rm -f /tmp/${tag}.a; exit $rc`,
      // Only session B's answer is the service's time; A's sleep is the check's own doing.
      { env: { PGPASSWORD: DB.password }, timeoutMs: 30_000, service: false },
    );
    const bNs = Number(/^b-ns=(\d+)$/m.exec(r.stdout)?.[1] ?? NaN);
    if (Number.isFinite(bNs)) serviceTime(bNs / 1e6);
    const res = parsePsql(r.exitCode, r.stdout.replace(/^(a-exit|b-ns)=.*$/gm, ""), r.stderr);
    expect(res.ok, describePsqlError(res, `${where} (second session)`)).to.equal(true);
    const aExit = /^a-exit=(\d+)$/m.exec(r.stdout)?.[1];
    expect(aExit, `${where}: the first session failed while the second ran: ${r.stderr.trim().slice(0, 200)}`).to.equal("0");
    expect(res.rows[0]?.[0], `${where}: the second session did not see the first one active (pg_stat_activity count ${res.rows[0]?.[0]})`).to.equal("1");
  });
});
