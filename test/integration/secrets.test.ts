// A batch runs with known lab passwords given through the environment (PATCHLAB_SECRET_*),
// and a patch whose installer prints them, as a maintainer script echoing a connection string
// would. The lab's services must really use those values: `patchlab run` sets them in the
// running machines at `lab up`, the role and wiki suites log in with them and the good patch
// is approved, while the image's built-in password no longer opens anything. Every file the
// run writes (gate.json, run.json, records, Allure results and attachments, JUnit, logs,
// summaries) and the command's own output are then searched for those values in every form
// they travel in: none may be there, and the redaction marker must be (proof the values did
// reach the writers).
import { execFileSync } from "node:child_process";
import crypto from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { expect } from "chai";
import { buildDeb, cli, readJson, runDirFrom, tmpDir } from "./support.ts";

function filesUnder(dir: string): string[] {
  return fs.readdirSync(dir, { recursive: true, withFileTypes: true }).filter((e) => e.isFile()).map((e) => path.join(e.parentPath, e.name));
}

/** Runs `cmd` in a reference lab machine with `env` passed by name (docker exec -e VAR), never on a command line; its exit code. */
function inMachine(machine: string, cmd: string, env: Record<string, string>): number {
  try {
    execFileSync("docker", ["exec", ...Object.keys(env).flatMap((k) => ["-e", k]), `patchlab-reference-${machine}`, "sh", "-c", cmd], { env: { ...process.env, ...env }, stdio: "ignore" });
    return 0;
  } catch (e) {
    return (e as { status?: number }).status ?? -1;
  }
}

describe("lab secrets: from the environment into the lab's services, never into an output (real run on the reference lab)", function () {
  this.timeout(900_000);

  after(async function () {
    // Back to the secrets file's values for the tests that follow (each `lab up` re-applies them).
    const up = await cli(["lab", "up", "reference"]);
    expect(up.code, up.stdout + up.stderr).to.equal(0);
  });

  it("the suites log in with the given passwords and approve a good patch that prints them; no output holds any", async function () {
    const secret = (label: string) => `${label}-${crypto.randomBytes(12).toString("base64url")}`;
    const env = {
      PATCHLAB_SECRET_DB_PASSWORD: secret("db"),
      PATCHLAB_SECRET_FILE_PASSWORD: secret("smb"),
      PATCHLAB_SECRET_WIKI_PASSWORD: secret("wiki"),
    };
    const basic = Buffer.from(`labadmin:${env.PATCHLAB_SECRET_WIKI_PASSWORD}`).toString("base64");
    const forms = [...Object.values(env), basic, encodeURIComponent(env.PATCHLAB_SECRET_WIKI_PASSWORD)];
    const dir = tmpDir("secrets");
    const reports = path.join(dir, "reports");
    // A chatty but harmless installer: prints a connection string, a share password and a basic-auth header.
    const deb = buildDeb(dir, {
      name: "fixture-chatty",
      version: "1.0",
      files: { "usr/share/doc/fixture-chatty/README": "x\n" },
      postinst: [
        "#!/bin/sh",
        `echo "connecting to postgresql://labuser:${env.PATCHLAB_SECRET_DB_PASSWORD}@db/inventory"`,
        `echo "smb share password is ${env.PATCHLAB_SECRET_FILE_PASSWORD}" >&2`,
        `echo "Authorization: Basic ${basic}"`,
        "exit 0",
        "",
      ].join("\n"),
    });
    // Severity low: every phase, full depth and the wiki's browser suite (which logs in).
    fs.writeFileSync(
      path.join(dir, "CHATTY-1.yaml"),
      ["id: CHATTY-1", "title: installer that prints the lab's credentials", "severity: low", "kind: deb", `deb: { file: ${path.basename(deb)} }`, "appliesTo: { roles: [db, file, app] }", ""].join("\n"),
    );
    const batch = path.join(dir, "batch.yaml");
    fs.writeFileSync(batch, ["name: chatty", "lab: reference", "patches:", "  - CHATTY-1.yaml", ""].join("\n"));

    const r = await cli(["run", batch], { env: { ...env, PATCHLAB_REPORTS_DIR: reports } });
    console.log(`      run with secrets from the environment: ${(r.ms / 1000).toFixed(1)} s, exit ${r.code}`);
    expect(r.code, r.stdout.slice(-3000) + r.stderr.slice(-2000)).to.equal(0);

    // The services use the given values (the suites logged in with them), not the image's.
    const gate = readJson<{ patches: { patch: string; verdict: string }[] }>(path.join(runDirFrom(r.stdout), "gate.json"));
    expect(gate.patches.map((p) => [p.patch, p.verdict])).to.deep.equal([["CHATTY-1", "approved"]]);
    const results = filesUnder(reports).filter((f) => f.endsWith("-result.json")).map((f) => readJson<{ name: string; status: string }>(f));
    for (const name of ["db accepts a network login as the lab role and answers a query", "dokuwiki lets a user log in"]) {
      const hits = results.filter((x) => x.name.startsWith(name));
      expect(hits.length, `checks named ${name}`).to.be.greaterThan(0);
      expect(hits.every((x) => x.status === "passed"), name).to.equal(true);
    }
    const psql = "PGCONNECT_TIMEOUT=3 psql -h 127.0.0.1 -U labuser -d inventory -tAc 'select 1'";
    expect(inMachine("db", psql, { PGPASSWORD: env.PATCHLAB_SECRET_DB_PASSWORD }), "db login with the given password").to.equal(0);
    expect(inMachine("db", psql, { PGPASSWORD: "labpass" }), "db login with the image's password").to.not.equal(0);
    const smb = "smbclient -t 3 //127.0.0.1/shared -U labuser -c ls";
    expect(inMachine("file", smb, { PASSWD: env.PATCHLAB_SECRET_FILE_PASSWORD }), "smb login with the given password").to.equal(0);
    expect(inMachine("file", smb, { PASSWD: "labpass" }), "smb login with the image's password").to.not.equal(0);

    // No output holds a secret, in any form.
    const files = filesUnder(reports);
    expect(files.length).to.be.greaterThan(5);
    const leaks = files.flatMap((f) => {
      const b = fs.readFileSync(f);
      return forms.filter((s) => b.includes(s)).map((s) => `${path.relative(reports, f)}: ${s.slice(0, 8)}…`);
    });
    expect(leaks, "files holding a secret").to.deep.equal([]);
    for (const s of forms) {
      expect(r.stdout, "stdout").to.not.include(s);
      expect(r.stderr, "stderr").to.not.include(s);
    }
    // Not vacuous: the installer's output reached the writers, redacted.
    const marked = files.filter((f) => fs.readFileSync(f, "utf8").includes("[redacted:db.password]")).map((f) => path.relative(reports, f));
    expect(marked.length, "files with the redaction marker").to.be.greaterThan(0);
    console.log(`      redaction marker found in ${marked.length} file(s): ${marked.map((f) => f.replace(/^[^/]+\//, "")).join(", ")}`);
  });
});
