// Each role's suite catches a deliberately broken patch and passes a good one, through one
// real `patchlab run` of a batch holding them all (the run verifies each patch alone on its
// machine, restoring it in between): .debs built here with dpkg-deb. Each broken patch must
// be rejected by exactly its role's suite, with a message a reviewer understands; every
// good patch approved; a check that answers wrongly exactly once is flaky, not a regression.
// A second run has its client machine killed mid-run: needs review (exit 2), never a verdict.
import fs from "node:fs";
import path from "node:path";
import { expect } from "chai";
import type { Decision, Reason } from "../../harness/gate/gate.ts";
import { buildDeb, cli, cliProcess, docker, readJson, runDirFrom, tmpDir, type DebSpec } from "./support.ts";
import { repoRoot } from "../../harness/core/paths.ts";

/** The lab under test: the reference lab, or (while developing a suite) another lab with the same machines. */
const LAB = process.env.PATCHLAB_SUITES_TEST_LAB ?? "reference";
const LAB_NAME = path.basename(LAB).replace(/\.ya?ml$/, "");

interface Fixture {
  id: string;
  roles: string[];
  deb: DebSpec;
}

const sh = (body: string) => `#!/bin/sh\n${body}\nexit 0\n`;
const restart = (svc: string) => `invoke-rc.d ${svc} restart >/dev/null 2>&1 || /etc/init.d/${svc} restart`;

/** Known-bad patches: each breaks its role the way a real package update could. */
const BAD: (Fixture & { suite: string; check: RegExp; message: RegExp; notFailing?: RegExp[] })[] = [
  {
    id: "FIX-DNS-ZONE",
    roles: ["dns"],
    suite: "dns",
    check: /^dns role > dns serves the lab zone's SOA with authority$/,
    message: /answered the SOA of lab\.test with SERVFAIL .*the zone failed to load/,
    deb: {
      name: "fixture-dns-zone-broken",
      version: "1.0",
      depends: "bind9",
      // The lab zone gains a record named cannot parse: named refuses to load the zone after its restart.
      postinst: sh(`echo 'broken-record IN A not-an-address' >> /etc/bind/db.lab.test\n${restart("named")}`),
      postrm: sh(`sed -i '/^broken-record IN A not-an-address$/d' /etc/bind/db.lab.test\n${restart("named")}`),
    },
  },
  {
    id: "FIX-DB-LOCALHOST",
    roles: ["db"],
    suite: "db",
    check: /^db role > db accepts a network login as the lab role and answers a query$/,
    message: /refused the connection on port 5432: PostgreSQL is not listening on the lab network/,
    deb: {
      name: "fixture-db-localhost-only",
      version: "1.0",
      depends: "postgresql-15",
      files: { "etc/postgresql/15/main/conf.d/zz-fixture.conf": "listen_addresses = 'localhost'\n" },
      postinst: sh(restart("postgresql")),
      postrm: sh(restart("postgresql")),
    },
  },
  {
    id: "FIX-FILE-SHARE",
    roles: ["file"],
    suite: "file",
    check: /^file role > file lists the share as the lab user$/,
    message: /NT_STATUS_BAD_NETWORK_NAME \(the share does not exist on the server\)/,
    // A wrong password is still refused: not every check fails, only what the share removal breaks.
    notFailing: [/file refuses the lab user with a wrong password/],
    deb: {
      name: "fixture-file-share-removed",
      version: "1.0",
      depends: "samba",
      postinst: sh(`cp /etc/samba/smb.conf /etc/samba/smb.conf.fixture-saved\nsed -i '/^\\[shared\\]/,$d' /etc/samba/smb.conf\n${restart("smbd")}`),
      postrm: sh(`[ -f /etc/samba/smb.conf.fixture-saved ] && mv /etc/samba/smb.conf.fixture-saved /etc/samba/smb.conf\n${restart("smbd")}`),
    },
  },
  {
    id: "FIX-SSH-NOKEYS",
    roles: ["ssh"],
    suite: "ssh",
    check: /^ssh role > ssh lets the lab user log in with the client's key and run a command$/,
    message: /the server refused the key login of labuser/,
    notFailing: [/ssh presents the host key the client knows/, /ssh refuses a key it does not know/],
    deb: {
      name: "fixture-ssh-no-pubkey",
      version: "1.0",
      depends: "openssh-server",
      files: { "etc/ssh/sshd_config.d/50-fixture.conf": "PubkeyAuthentication no\n" },
      postinst: sh(restart("ssh")),
      postrm: sh(restart("ssh")),
    },
  },
  {
    id: "FIX-APP-PHP-MODULE",
    roles: ["app"],
    suite: "wiki",
    check: /^dokuwiki in a browser > dokuwiki lets a user log in, create, edit, find and review a page, and log out$/,
    message: /saving page patchlab:check-\w+ on app\.lab\.test answered HTTP 500/,
    // Only the browser flow catches it: the role suite and the browser's start page still pass.
    notFailing: [/app role > /, /dokuwiki shows its start page in a browser/],
    deb: {
      name: "fixture-app-no-pdo-sqlite",
      version: "1.0",
      depends: "apache2",
      postinst: sh("phpdismod -v 8.2 -s apache2 pdo_sqlite\ninvoke-rc.d apache2 reload >/dev/null 2>&1 || /etc/init.d/apache2 reload"),
      postrm: sh("phpenmod -v 8.2 -s apache2 pdo_sqlite\ninvoke-rc.d apache2 reload >/dev/null 2>&1 || /etc/init.d/apache2 reload"),
    },
  },
  {
    id: "FIX-CLIENT-TRUST",
    roles: ["client"],
    suite: "client",
    check: /^client role > client opens the web machines' HTTPS pages, trusting them through its own trust store$/,
    message: /SSL certificate problem/,
    // Only what needs the trust store breaks: names, the database, the share and SSH still work.
    notFailing: [/client gets the lab zone's answers/, /client queries the db machines/, /client lists the file machines' share/, /client logs in to the ssh machines/],
    deb: {
      name: "fixture-client-trust-store-reset",
      version: "1.0",
      depends: "ca-certificates",
      // A trust-store update that rebuilds it from the distribution's CAs only, dropping the locally added ones.
      postinst: sh("mkdir -p /var/backups/fixture-local-cas\nmv /usr/local/share/ca-certificates/*.crt /var/backups/fixture-local-cas/ 2>/dev/null\nupdate-ca-certificates --fresh >/dev/null 2>&1"),
      postrm: sh("mv /var/backups/fixture-local-cas/*.crt /usr/local/share/ca-certificates/ 2>/dev/null\nrmdir /var/backups/fixture-local-cas 2>/dev/null\nupdate-ca-certificates --fresh >/dev/null 2>&1"),
    },
  },
];

/** Known-good patches, one per role: ship a file and restart the service, as updates do. */
const GOOD: Fixture[] = [
  ["web", "nginx", "nginx-common"],
  ["dns", "named", "bind9"],
  ["db", "postgresql", "postgresql-15"],
  ["file", "smbd", "samba"],
  ["app", "apache2", "apache2"],
  ["ssh", "ssh", "openssh-server"],
].map(([role, svc, dep]) => ({
  id: `FIX-GOOD-${role!.toUpperCase()}`,
  roles: [role!],
  deb: {
    name: `fixture-good-${role}`,
    version: "1.0",
    depends: dep!,
    files: { [`usr/share/doc/fixture-good-${role}/README`]: `known-good fixture for the ${role} role\n` },
    postinst: sh(restart(svc!)),
    postrm: sh(restart(svc!)),
  },
}));
// The client runs no service: its good patch ships a file of a tool it uses.
GOOD.push({ id: "FIX-GOOD-CLIENT", roles: ["client"], deb: { name: "fixture-good-client", version: "1.0", depends: "curl", files: { "usr/share/doc/fixture-good-client/README": "known-good fixture for the client role\n" } } });

/**
 * Hides one sample row from the first read of `assets` over the lab network after install, then
 * answers right: flaky. Reads on the machine itself (the harness's readiness probe) do not count.
 */
const FLAKY: Fixture = {
  id: "FIX-DB-FLAKY",
  roles: ["db"],
  deb: {
    name: "fixture-db-answers-wrong-once",
    version: "1.0",
    depends: "postgresql-15",
    postinst: sh(`su postgres -c "psql -q -v ON_ERROR_STOP=1 -d inventory" <<'SQL'
CREATE SCHEMA fixture AUTHORIZATION labuser;
SET ROLE labuser;
CREATE TABLE fixture.once (fired boolean NOT NULL);
INSERT INTO fixture.once VALUES (false);
CREATE FUNCTION fixture.visible() RETURNS boolean LANGUAGE plpgsql VOLATILE AS $$
BEGIN
  IF inet_client_addr() IS NULL OR host(inet_client_addr()) = '127.0.0.1' THEN RETURN true; END IF;
  UPDATE fixture.once SET fired = true WHERE NOT fired;
  RETURN NOT FOUND;
END $$;
CREATE VIEW fixture.assets AS SELECT * FROM public.assets WHERE fixture.visible();
RESET ROLE;
ALTER ROLE labuser SET search_path = fixture, public;
SQL`),
    postrm: sh(`su postgres -c "psql -q -d inventory" <<'SQL'
ALTER ROLE labuser RESET search_path;
DROP SCHEMA IF EXISTS fixture CASCADE;
SQL`),
  },
};

function writeBatch(dir: string, name: string, fixtures: Fixture[]): string {
  for (const f of fixtures) {
    const deb = buildDeb(dir, f.deb);
    fs.writeFileSync(
      path.join(dir, `${f.id}.yaml`),
      [`id: ${f.id}`, `title: fixture ${f.deb.name}`, "severity: low", "kind: deb", `deb: { file: ${path.basename(deb)} }`, `appliesTo: { roles: [${f.roles.join(", ")}] }`, ""].join("\n"),
    );
  }
  const batch = path.join(dir, `${name}.yaml`);
  fs.writeFileSync(batch, [`name: ${name}`, `lab: ${/\.ya?ml$/.test(LAB) ? path.resolve(LAB) : LAB}`, "patches:", ...fixtures.map((f) => `  - ${f.id}.yaml`), ""].join("\n"));
  return batch;
}

interface AllureStep {
  name: string;
  steps?: AllureStep[];
  attachments?: { name: string }[];
}
/** Attachments of a result or step and of all its steps (allure-mocha nests them as steps). */
const attachmentsOf = (s: AllureStep): string[] => [...(s.attachments ?? []).map((a) => a.name), ...(s.steps ?? []).flatMap(attachmentsOf)];

interface AllureResult {
  name: string;
  status: string;
  historyId: string;
  statusDetails?: { message?: string; flaky?: boolean };
  parameters: { name: string; value: string }[];
  labels: { name: string; value: string }[];
  steps?: AllureStep[];
  attachments?: { name: string }[];
}

describe("suites: every role's suite catches its broken patch and passes a good one (one batch run)", function () {
  this.timeout(900_000);
  let gate: Decision;
  let runDir: string;
  let code: number;
  let results: AllureResult[];

  before(async function () {
    const up = await cli(["lab", "up", LAB]);
    expect(up.code, up.stdout + up.stderr).to.equal(0);
    const dir = tmpDir("suites-fixtures");
    const batch = writeBatch(dir, "suites-fixtures", [...BAD, ...GOOD, FLAKY]);
    // --isolate: each patch alone on its freshly restored machine, so each verdict is its own.
    const r = await cli(["run", batch, "--depth", "full", "--isolate"]);
    console.log(`      batch of ${BAD.length + GOOD.length + 1} patches: ${(r.ms / 1000).toFixed(0)} s`);
    code = r.code;
    runDir = runDirFrom(r.stdout);
    gate = readJson<Decision>(path.join(runDir, "gate.json"));
    const dirA = path.join(runDir, "allure-results");
    results = fs.readdirSync(dirA).filter((f) => f.endsWith("-result.json")).map((f) => readJson<AllureResult>(path.join(dirA, f)));
    if (code !== 1) console.log(r.stdout.slice(-4000), r.stderr.slice(-2000));
  });

  const decision = (id: string) => gate.patches.find((p) => p.patch === id)!;
  const blocking = (id: string): Reason[] => decision(id).reasons.filter((r) => r.effect !== "none");

  it("the batch is rejected (exit 1): the broken patches block it", function () {
    expect(code).to.equal(1);
    expect(gate.verdict).to.equal("rejected");
  });

  for (const f of GOOD) {
    it(`approves the good ${f.roles[0]} patch (its suites pass after install and after uninstall)`, function () {
      const d = decision(f.id);
      expect(d.verdict, JSON.stringify(d.reasons.slice(0, 5))).to.equal("approved");
      expect(d.counts.passed).to.be.greaterThan(0);
    });
  }

  for (const f of BAD) {
    it(`rejects ${f.id} (${f.deb.name}): its ${f.suite} suite names what broke, and no other suite blocks`, function () {
      const d = decision(f.id);
      expect(d.verdict, JSON.stringify(d.reasons.slice(0, 5))).to.equal("rejected");
      const all = blocking(f.id);
      // The lifecycle checks and watchers of the same machine may see the damage too (not ready
      // after the install, not idempotent, its service stopped answering the probes, new error
      // lines): findings of the patch (failed), never a lab error (broken) or another machine.
      for (const r of all.filter((x) => x.kind !== "suite")) {
        expect(r, JSON.stringify(r)).to.deep.include({ outcome: "failed", effect: "rejects", machine: f.roles[0] });
      }
      // Among the suites, exactly its role's: every blocking suite reason is a post-install regression of that suite.
      const reasons = all.filter((x) => x.kind === "suite");
      expect(reasons.length).to.be.greaterThan(0);
      for (const r of reasons) {
        expect(r, JSON.stringify(r)).to.deep.include({ outcome: "failed", effect: "rejects", rule: "regression", kind: "suite", suite: f.suite, phase: "post-install" });
      }
      const main = reasons.find((r) => f.check.test(r.check));
      expect(main, `no regression of ${f.check} in ${JSON.stringify(reasons.map((r) => r.check))}`).to.not.equal(undefined);
      expect(main!.message).to.match(f.message);
      for (const ok of f.notFailing ?? []) expect(reasons.map((r) => r.check).filter((c) => ok.test(c)), `${ok} must not fail`).to.deep.equal([]);
      // After uninstall the role works again: nothing blocks from post-uninstall.
      expect(d.reasons.filter((r) => r.phase === "post-uninstall" && r.effect !== "none")).to.deep.equal([]);
    });
  }

  it("keeps the browser's trace.zip for the failing wiki check, with a screenshot of each step", function () {
    const failed = results.filter((r) => r.status === "failed" && r.name.startsWith("dokuwiki lets a user") && r.parameters.some((p) => p.name === "patch" && p.value === "FIX-APP-PHP-MODULE"));
    expect(failed.length, "failed wiki flow results (first try and retry)").to.equal(2);
    for (const r of failed) {
      const names = attachmentsOf(r);
      expect(names).to.include("trace.zip");
      expect(names.filter((n) => /^\d\d /.test(n)).length, "numbered step screenshots").to.be.at.least(3);
      expect((r.steps ?? []).find((s) => s.name === "create a page")).to.not.equal(undefined);
    }
  });

  it("a check that answers wrongly only on its first try is flaky: retried, recorded with both tries, and does not reject", function () {
    const d = decision(FLAKY.id);
    expect(d.verdict, JSON.stringify(d.reasons.slice(0, 5))).to.not.equal("rejected");
    expect(blocking(FLAKY.id)).to.deep.equal([]);
    const flaky = d.reasons.filter((r) => r.outcome === "flaky");
    expect(flaky.map((r) => [r.check, r.phase, r.effect])).to.deep.equal([["db role > db serves the sample data to the lab role", "post-install", "none"]]);
    const tries = results.filter((r) => r.name === "db serves the sample data to the lab role" && r.parameters.some((p) => p.name === "patch" && p.value === FLAKY.id) && r.parameters.some((p) => p.name === "phase" && p.value === "post-install"));
    expect(tries.map((r) => r.status).sort()).to.deep.equal(["failed", "passed"]);
    expect(new Set(tries.map((r) => r.historyId)).size, "one test in Allure, the first try shown as its retry").to.equal(1);
    const first = tries.find((r) => r.status === "failed")!;
    expect(first.statusDetails!.message).to.match(/inventory\.assets holds/);
    const second = tries.find((r) => r.status === "passed")!;
    expect(second.statusDetails?.flaky).to.equal(true);
    expect(second.parameters).to.deep.include({ name: "attempt", value: "2", excluded: true });
    const junit = fs.readdirSync(path.join(runDir, "junit")).filter((f) => f.startsWith("db-post-install-FIX-DB-FLAKY"));
    expect(fs.readFileSync(path.join(runDir, "junit", junit[0]!), "utf8")).to.contain("<flakyFailure");
  });
});

describe("suites: the client machine stopped mid-run", function () {
  this.timeout(600_000);

  it("gives needs review (exit 2): the suites could not run, which is never a verdict on the patch", async function () {
    const up = await cli(["lab", "up", LAB]);
    expect(up.code, up.stdout + up.stderr).to.equal(0);
    const dir = tmpDir("suites-client-stop");
    const good = GOOD.find((f) => f.roles[0] === "file")!;
    const batch = writeBatch(dir, "suites-client-stop", [{ ...good, id: "FIX-CLIENT-STOP" }]);
    const child = cliProcess(["run", batch]);
    let out = "";
    child.stdout!.on("data", (b) => (out += b));
    child.stderr!.on("data", (b) => (out += b));
    const exited = new Promise<number>((resolve) => child.on("close", (c) => resolve(c ?? -1)));
    try {
      // Kill the client once the patch is installed: the post-install suites lose their vantage point.
      const deadline = Date.now() + 300_000;
      for (;;) {
        const m = /reports in (\S+)/.exec(out);
        const journal = m ? path.resolve(repoRoot, m[1]!, "run.json") : "";
        const installed = journal && fs.existsSync(journal) && /"step":\s*"install"/.test(fs.readFileSync(journal, "utf8"));
        if (installed) break;
        if (Date.now() > deadline) throw new Error(`the run never installed the patch:\n${out}`);
        await new Promise((r) => setTimeout(r, 200));
      }
      await docker.getContainer(`patchlab-${LAB_NAME}-client`).kill();
      const code = await exited;
      expect(code, out.slice(-3000)).to.equal(2);
      const gate = readJson<Decision>(path.join(runDirFrom(out), "gate.json"));
      expect(gate.patches[0]!.verdict).to.equal("needs-review");
      const reasons = gate.patches[0]!.reasons.filter((r) => r.effect !== "none");
      expect(reasons.some((r) => r.outcome === "broken" || r.outcome === "missing"), JSON.stringify(reasons)).to.equal(true);
      expect(reasons.filter((r) => r.outcome === "failed" || r.effect === "rejects"), "a dead client is never blamed on the patch").to.deep.equal([]);
      expect(JSON.stringify(reasons)).to.match(/client machine client .* stopped while the check ran|not running|client/);
    } finally {
      child.kill("SIGKILL");
      // Bring the client back for whoever uses the lab next.
      const again = await cli(["lab", "up", LAB]);
      expect(again.code, again.stdout + again.stderr).to.equal(0);
    }
  });
});
