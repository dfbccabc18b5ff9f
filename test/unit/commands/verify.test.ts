// `patchlab verify`'s pure parts: which suites a --suite name picks, the exit code (a failed
// check is 1 whatever else happened; broken or crashed is 2; all passed 0), and the report a
// person reads (failures with their message, flaky checks called out, passes folded away).
import { expect } from "chai";
import { formatVerify, suiteMatches, verifyExitCode, type VerifiedSuite } from "../../../harness/commands/verify.ts";

const suite = (machine: string, id: string, tests: VerifiedSuite["result"]["tests"], crashed = false): VerifiedSuite => ({
  machine,
  suite: id,
  ms: 1234,
  result: { suite: id.split("/").pop()!, tests, crashed, detail: crashed ? "killed after 300000 ms" : "" },
});

describe("verify: suite selection, exit code and report", () => {
  it("--suite matches a role, a full id, an application or one of its suites", () => {
    expect(suiteMatches("roles/dns", "dns")).to.equal(true);
    expect(suiteMatches("roles/dns", "roles/dns")).to.equal(true);
    expect(suiteMatches("apps/dokuwiki/wiki", "dokuwiki")).to.equal(true);
    expect(suiteMatches("apps/dokuwiki/wiki", "wiki")).to.equal(true);
    expect(suiteMatches("apps/dokuwiki/wiki", "apps/dokuwiki/wiki.spec.ts")).to.equal(true);
    expect(suiteMatches("roles/dns", "db")).to.equal(false);
    expect(suiteMatches("roles/web", "we")).to.equal(false);
  });

  it("exit 0 when every check passed, 1 when one failed (even beside a broken one), 2 when broken or crashed", () => {
    const pass = { name: "a > ok", status: "passed" as const, durationMs: 1 };
    const fail = { name: "a > bad", status: "failed" as const, durationMs: 1, message: "no" };
    const broken = { name: "a > ?", status: "broken" as const, durationMs: 1, message: "client down" };
    expect(verifyExitCode([suite("web", "roles/web", [pass])])).to.equal(0);
    expect(verifyExitCode([suite("web", "roles/web", [pass, fail]), suite("dns", "roles/dns", [broken])])).to.equal(1);
    expect(verifyExitCode([suite("web", "roles/web", [pass, broken])])).to.equal(2);
    expect(verifyExitCode([suite("web", "roles/web", [pass], true)])).to.equal(2);
  });

  it("the report names failures with their message and calls a pass on retry flaky", () => {
    const out = formatVerify({
      runId: "r",
      runDir: "/tmp/r",
      depth: "full",
      ms: 2000,
      exitCode: 1,
      suites: [
        suite("db", "roles/db", [
          { name: "db role > db answers", status: "failed", durationMs: 3, message: "db.lab.test refused the connection: expected 1 to equal 0" },
          { name: "db role > db data", status: "passed", durationMs: 3, attempts: [{ status: "failed", message: "holds nothing" }] },
          { name: "db role > db fine", status: "passed", durationMs: 3 },
        ]),
      ],
    });
    expect(out).to.contain("db: roles/db: FAILED 2/3 passed");
    expect(out).to.contain("FAILED: db role > db answers\n          db.lab.test refused the connection\n");
    expect(out).to.contain("FLAKY (passed on retry): db role > db data\n          holds nothing");
    expect(out).to.not.contain("db fine");
    expect(out).to.contain("a check FAILED: 2 passed, 1 failed, 0 broken of 3 checks in 1 suites, depth full");
  });
});
