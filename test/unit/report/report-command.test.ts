import { expect } from "chai";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { ConfigError } from "../../../harness/core/errors.ts";
import { reportCommand, resolveRunDir } from "../../../harness/commands/report.ts";

describe("report: `patchlab report` input", () => {
  let root: string;
  let saved: string | undefined;
  beforeEach(() => {
    root = fs.mkdtempSync(path.join(os.tmpdir(), "patchlab-report-cmd-"));
    saved = process.env.PATCHLAB_REPORTS_DIR;
    process.env.PATCHLAB_REPORTS_DIR = root;
    for (const id of ["20261101-000000-demo-a", "20261102-000000-demo-b"]) {
      fs.mkdirSync(path.join(root, id, "allure-results"), { recursive: true });
      fs.writeFileSync(path.join(root, id, "gate.json"), "{}");
    }
    fs.symlinkSync("20261102-000000-demo-b", path.join(root, "latest"));
  });
  afterEach(() => {
    if (saved === undefined) delete process.env.PATCHLAB_REPORTS_DIR;
    else process.env.PATCHLAB_REPORTS_DIR = saved;
    fs.rmSync(root, { recursive: true, force: true });
  });

  it("takes a run id, a run directory, or (by default) reports/latest", () => {
    expect(resolveRunDir("20261101-000000-demo-a")).to.equal(fs.realpathSync(path.join(root, "20261101-000000-demo-a")));
    expect(resolveRunDir(path.join(root, "20261101-000000-demo-a"))).to.equal(fs.realpathSync(path.join(root, "20261101-000000-demo-a")));
    expect(resolveRunDir(undefined)).to.equal(fs.realpathSync(path.join(root, "20261102-000000-demo-b")));
  });

  it("an unknown run is a ConfigError (exit 3) listing the runs there are", () => {
    try {
      resolveRunDir("20991231-nope");
      expect.fail("should have thrown");
    } catch (e) {
      expect(e).to.be.instanceOf(ConfigError);
      expect((e as ConfigError).exitCode).to.equal(3);
      expect((e as ConfigError).remedy).to.contain("20261101-000000-demo-a").and.contain("20261102-000000-demo-b");
    }
  });

  it("a bad --port or a missing --history-from is a ConfigError before anything is generated", async () => {
    for (const [o, field] of [[{ port: 70000 }, "--port"], [{ historyFrom: path.join(root, "no-such-report") }, "--history-from"]] as const) {
      try {
        await reportCommand("20261101-000000-demo-a", o);
        expect.fail("should have thrown");
      } catch (e) {
        expect(e).to.be.instanceOf(ConfigError);
        expect((e as ConfigError).field).to.equal(field);
      }
    }
    expect(fs.readdirSync(path.join(root, "20261101-000000-demo-a")).sort()).to.deep.equal(["allure-results", "gate.json"]);
  });
});
