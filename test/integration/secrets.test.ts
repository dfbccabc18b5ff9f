// A batch runs with known lab secret values (from the environment) and a patch whose
// installer prints them, as a maintainer script echoing a connection string would. Every file
// the run writes (gate.json, run.json, Allure results, JUnit, logs, summaries) and the
// command's own output are then searched for those values in every form they travel in:
// none may be there, and the redaction marker must be (proof the values did reach the writers).
import crypto from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { expect } from "chai";
import { batchFor, buildDeb, cli, tmpDir } from "./support.ts";

function filesUnder(dir: string): string[] {
  return fs.readdirSync(dir, { recursive: true, withFileTypes: true }).filter((e) => e.isFile()).map((e) => path.join(e.parentPath, e.name));
}

describe("secrets never reach a report, log or message (real run on the reference lab)", function () {
  it("a run whose patch prints the lab's credentials writes none of them anywhere", async function () {
    const secret = (label: string) => `${label}-${crypto.randomBytes(12).toString("base64url")}`;
    const env = {
      PATCHLAB_SECRET_DB_PASSWORD: secret("db"),
      PATCHLAB_SECRET_FILE_PASSWORD: secret("smb"),
      PATCHLAB_SECRET_WIKI_PASSWORD: secret("wiki"),
    };
    const basic = Buffer.from(`labadmin:${env.PATCHLAB_SECRET_WIKI_PASSWORD}`).toString("base64");
    const forms = [...Object.values(env), basic];
    const dir = tmpDir("secrets");
    const reports = path.join(dir, "reports");
    // A leaky installer: prints a connection string, a share password and a basic-auth header, then fails.
    const deb = buildDeb(dir, {
      name: "fixture-leaky",
      version: "1.0",
      files: { "usr/share/doc/fixture-leaky/README": "x\n" },
      postinst: [
        "#!/bin/sh",
        `echo "connecting to postgresql://labuser:${env.PATCHLAB_SECRET_DB_PASSWORD}@db/inventory"`,
        `echo "smb share password is ${env.PATCHLAB_SECRET_FILE_PASSWORD}" >&2`,
        `echo "Authorization: Basic ${basic}"`,
        "exit 1",
        "",
      ].join("\n"),
    });
    const batch = batchFor(dir, { id: "LEAKY-1", deb, lab: "reference" });
    const t0 = Date.now();
    const r = await cli(["run", batch], { env: { ...env, PATCHLAB_REPORTS_DIR: reports } });
    console.log(`      leaky run: ${((Date.now() - t0) / 1000).toFixed(1)} s, exit ${r.code}`);
    expect(r.code, r.stderr.slice(-2000)).to.equal(1); // install-failed: the canary ran

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
    expect(marked.some((f) => f.includes("allure-results/")), `redacted in: ${marked.join(", ")}`).to.equal(true);
    expect(marked.some((f) => f.endsWith("junit/lifecycle.xml")), `redacted in: ${marked.join(", ")}`).to.equal(true);
    console.log(`      redaction marker found in ${marked.length} file(s): ${marked.map((f) => f.replace(/^[^/]+\//, "")).join(", ")}`);
  });
});
