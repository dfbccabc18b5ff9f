// The client role as its user works: a user's computer, patched like any machine (its TLS
// library, trust store, resolver and tools are updated too), still reaches the lab's services
// with its own tools and its own trust store. Every command runs on the client under test
// (it is its own vantage point): HTTPS verified against the client's trust store (no --cacert),
// names asked of the lab's DNS, the database, the share, and SSH with the host keys it knows.
// One check per service the lab has; the smoke check is the first of them.
import { expect } from "chai";
import { DB, SMB, SSH } from "../../harness/lab/roles/credentials.ts";
import { CLIENT_KNOWN_HOSTS, CLIENT_SSH_KEY } from "../../harness/lab/roles/client.ts";
import { check, smoke } from "../support/check.ts";
import { sh, timedOnClient } from "../support/client.ts";
import { suiteContext, targetWithRole, type SuiteContext } from "../support/context.ts";
import { describePsqlError, psql } from "../support/db.ts";
import { describeAnswer, dig } from "../support/dns.ts";
import { describeResponse, httpGet } from "../support/http.ts";
import { describeStep, listedNames, smbSteps } from "../support/smb.ts";

type Machine = SuiteContext["machines"][string];

/** The lab's machines playing `role`, by name (read when the suite loads: one check per service). */
function serving(role: string): [string, Machine][] {
  try {
    return Object.entries(suiteContext().machines).filter(([, m]) => (m.roles as string[]).includes(role)).sort(([a], [b]) => (a < b ? -1 : 1));
  } catch {
    return []; // no context: the guard check below reports it (broken)
  }
}

const services: { role: string; title: string; run: (m: Machine) => Promise<void> }[] = [
  {
    role: "web",
    title: "client opens the web machines' HTTPS pages, trusting them through its own trust store",
    run: async (m) => {
      // No --cacert: curl verifies with the client's own store, which the lab CA joined at provision.
      const r = await httpGet(`https://${m.fqdn}/`, { ip: m.ip });
      expect(r.status, `GET https://${m.fqdn}/ from the client with its own trust store: ${describeResponse(r)}`).to.equal(200);
    },
  },
  {
    role: "dns",
    title: "client gets the lab zone's answers from the dns machines",
    run: async (m) => {
      const zone = suiteContext().lab.domain;
      const [a] = await dig(m.ip, [{ name: m.fqdn, type: "A" }]);
      const ips = a!.answer.filter((x) => x.type === "A").map((x) => x.data);
      expect(ips, `dig @${m.ip} ${m.fqdn} A from the client (zone ${zone}): ${describeAnswer(a!)}`).to.deep.equal([m.ip]);
    },
  },
  {
    role: "db",
    title: "client queries the db machines with psql as the lab role",
    run: async (m) => {
      const r = await psql(m.ip, { sql: "select current_user, 6 * 7;" });
      expect(r.ok, describePsqlError(r, `${m.fqdn} (${m.ip})`)).to.equal(true);
      expect(r.rows[0], `${m.fqdn}: select current_user, 6 * 7 answered ${JSON.stringify(r.rows[0])}`).to.deep.equal([DB.user, "42"]);
    },
  },
  {
    role: "file",
    title: "client lists the file machines' share with smbclient as the lab user",
    run: async (m) => {
      const [ls] = await smbSteps(m.ip, ["ls"]);
      expect(ls!.exitCode, `//${m.fqdn}/${SMB.share} (${m.ip}) from the client: ${describeStep(ls!)}`).to.equal(0);
      expect(listedNames(ls!.output).length, `//${m.fqdn}/${SMB.share}: the listing is empty`).to.be.greaterThan(0);
    },
  },
  {
    role: "ssh",
    title: "client logs in to the ssh machines with its own ssh, its key and the host keys it knows",
    run: async (m) => {
      // StrictHostKeyChecking=yes: a host key the client does not know (or a broken known_hosts) fails.
      const cmd = `ssh -o BatchMode=yes -o StrictHostKeyChecking=yes -o ConnectTimeout=5 -o UserKnownHostsFile=${sh(CLIENT_KNOWN_HOSTS)} -i ${sh(CLIENT_SSH_KEY)} ${sh(`${SSH.user}@${m.ip}`)} 'echo patchlab-client-ssh-ok'`;
      const r = await timedOnClient(cmd, { timeoutMs: 20_000 });
      expect(r.exitCode, `${cmd.replace(/'/g, "")} exited ${r.exitCode}: ${r.stderr.trim().slice(0, 300)}`).to.equal(0);
      expect(r.stdout.trim(), `${m.fqdn}: the remote command printed ${JSON.stringify(r.stdout.slice(0, 200))}`).to.equal("patchlab-client-ssh-ok");
    },
  },
];

describe("client role", function () {
  this.timeout(60_000);

  before(function () {
    // Throws a plain Error (-> broken) when the context is missing or the target is not a client;
    // and this suite must run its commands on the client under test, not on another one.
    const t = targetWithRole("client");
    const from = suiteContext().client.name;
    if (from !== t.name) throw new Error(`the client suite of ${t.name} would run its commands on ${from}: a harness bug (the client under test is its own vantage point)`);
  });

  const present = services.filter((s) => serving(s.role).length > 0);
  if (present.length === 0) {
    // Silence is not evidence: a lab with nothing for the client to use cannot approve its patches.
    smoke("client reaches the lab's services", function () {
      throw new Error("the lab has no web, dns, db, file or ssh machine for the client to use: nothing can show the client still works");
    });
  }
  for (const [i, s] of present.entries()) {
    (i === 0 ? smoke : check)(s.title, async function () {
      const failed: string[] = [];
      for (const [, m] of serving(s.role)) {
        try {
          await s.run(m);
        } catch (e) {
          // An assertion is a finding; anything else (the client stopped) stays broken.
          if ((e as Error).name !== "AssertionError") throw e;
          failed.push((e as Error).message);
        }
      }
      expect(failed, failed.join("; ")).to.deep.equal([]);
    });
  }
});
