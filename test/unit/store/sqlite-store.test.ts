// The embedded store (the default) meets the store contract; --store / PATCHLAB_STORE parse
// into a store or a clear bad-input error; a run's record carries its timings from run.json.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { expect } from "chai";
import { ConfigError } from "../../../harness/core/errors.ts";
import { SqliteStore } from "../../../harness/store/sqlite.ts";
import { parseStoreRef } from "../../../harness/store/open.ts";
import { formatRuns, recordRun, runRecordOf } from "../../../harness/store/runs.ts";
import { decisionOf, storeContract } from "./contract.ts";

describe("SQLite results store", () => {
  let dir: string;
  beforeEach(() => (dir = fs.mkdtempSync(path.join(os.tmpdir(), "patchlab-sqlite-store-"))));
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  storeContract(() => new SqliteStore(path.join(dir, "store.sqlite")));

  it("a run's record takes its start from the run journal and its end from the decision", () => {
    fs.writeFileSync(path.join(dir, "run.json"), JSON.stringify({ startedAt: "2026-01-01T00:00:00.000Z" }));
    const r = runRecordOf(decisionOf("run-x", "b", { P: "approved" }, { decidedAt: "2026-01-01T00:02:30.000Z" }), dir);
    expect(r).to.deep.include({ startedAt: "2026-01-01T00:00:00.000Z", finishedAt: "2026-01-01T00:02:30.000Z", durationMs: 150_000 });
    expect(formatRuns([r])).to.match(/run-x\s+b\s+reference\s+approved\s+exit 0\s+150 s/);
  });

  it("recordRun writes to the store PATCHLAB_STORE names, and a store it cannot open leaves the verdict alone", async () => {
    const file = path.join(dir, "runs.sqlite");
    const was = process.env.PATCHLAB_STORE;
    try {
      process.env.PATCHLAB_STORE = file;
      expect(await recordRun(decisionOf("run-y", "b", { P: "rejected" }))).to.equal(true);
      const s = new SqliteStore(file);
      expect((await s.runs()).map((r) => [r.runId, r.verdict])).to.deep.equal([["run-y", "rejected"]]);
      await s.close();
      process.env.PATCHLAB_STORE = "mysql://nope";
      expect(await recordRun(decisionOf("run-z", "b", { P: "approved" }))).to.equal(false);
    } finally {
      if (was === undefined) delete process.env.PATCHLAB_STORE;
      else process.env.PATCHLAB_STORE = was;
    }
  });

  it("parses --store: postgres URLs, SQLite files, and refuses anything else as bad input without echoing a password", () => {
    expect(parseStoreRef("postgres://u:p@db.example:5432/x")).to.deep.equal({ kind: "postgres", url: "postgres://u:p@db.example:5432/x" });
    expect(parseStoreRef("postgresql://h/x").kind).to.equal("postgres");
    expect(parseStoreRef("sqlite:/tmp/a.sqlite")).to.deep.equal({ kind: "sqlite", file: "/tmp/a.sqlite" });
    expect(parseStoreRef(path.join(dir, "b.db"))).to.deep.equal({ kind: "sqlite", file: path.join(dir, "b.db") });
    expect(parseStoreRef("").kind).to.equal("sqlite");
    for (const bad of ["mysql://u:hunter2@h/x", "postgres://u:hunter2@/x", "sqlite:"]) {
      let err: unknown;
      try {
        parseStoreRef(bad);
      } catch (e) {
        err = e;
      }
      expect(err, bad).to.be.instanceOf(ConfigError);
      expect((err as ConfigError).field).to.equal("--store");
      expect((err as ConfigError).message).to.not.contain("hunter2");
    }
  });
});
