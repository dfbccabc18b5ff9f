// The shared results store on a real PostgreSQL server the test starts itself (Debian's
// postgresql, a private cluster on 127.0.0.1 and a free port): the store contract, two runner
// processes writing at once that each see the other's history through the real CLI, and a
// server that refuses (wrong password, gone) as a clear lab error that never shows the password.
import { spawn } from "node:child_process";
import path from "node:path";
import { expect } from "chai";
import { repoRoot } from "../../harness/core/paths.ts";
import { PostgresStore } from "../../harness/store/postgres.ts";
import { storeContract } from "../unit/store/contract.ts";
import { startPostgres, type TestPostgres } from "./postgres-server.ts";
import { cli } from "./support.ts";

function runner(url: string, args: string[]): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ["--import", "tsx", path.join(repoRoot, "test/integration/store-runner.ts"), ...args], { env: { ...process.env, PATCHLAB_STORE: url }, stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    child.stdout.on("data", (b) => (out += b));
    child.stderr.on("data", (b) => (out += b));
    child.on("close", (code) => resolve({ code, out }));
  });
}

describe("PostgreSQL results store (a real server)", function () {
  this.timeout(120_000);
  let pg: TestPostgres;
  before(async () => (pg = await startPostgres()));
  after(() => pg?.stop());

  describe("store contract", () => {
    let n = 0;
    // Each test gets an empty database of its own.
    storeContract(async () => {
      const db = `contract_${++n}_${Date.now()}`;
      const admin = new PostgresStore(pg.url);
      await (admin as unknown as { pool: { query(q: string): Promise<unknown> } }).pool.query(`CREATE DATABASE ${db}`);
      await admin.close();
      return new PostgresStore(pg.url.replace(/\/postgres$/, `/${db}`));
    });
  });

  it("two runners writing at once share one history: each sees the other's runs and scans", async () => {
    const url = pg.url.replace(/\/postgres$/, "/postgres");
    const [a, b] = await Promise.all([runner(url, ["runner-a-1", "nightly", "web-a", "approved"]), runner(url, ["runner-b-1", "nightly", "web-b", "rejected"])]);
    expect(a.code, a.out).to.equal(0);
    expect(b.code, b.out).to.equal(0);
    // A later run by runner A, then what each side sees through the real CLI.
    expect((await runner(url, ["runner-a-2", "weekly", "web-a", "approved"])).code).to.equal(0);
    const hist = await cli(["history", "--store", url, "--batch", "nightly", "--json"]);
    expect(hist.code, hist.stderr).to.equal(0);
    const runs = JSON.parse(hist.stdout) as { runId: string; verdict: string; patches: { patch: string; verdict: string; reasons: number }[] }[];
    expect(runs.map((r) => r.runId).sort()).to.deep.equal(["runner-a-1", "runner-b-1"]);
    expect(runs.find((r) => r.runId === "runner-b-1")!.patches).to.deep.equal([{ patch: "P-web-b", severity: "moderate", verdict: "rejected", reasons: 1 }]);
    // PATCHLAB_STORE works like --store; the text table names both runners' runs.
    const text = await cli(["history"], { env: { PATCHLAB_STORE: url } });
    expect(text.stdout).to.match(/runner-a-2\s+weekly/).and.match(/runner-b-1\s+nightly\s+shared\s+rejected/);
    const scans = await cli(["scan", "history", "shared", "--store", url, "--json"]);
    expect(scans.code, scans.stderr).to.equal(0);
    expect((JSON.parse(scans.stdout) as { machine: string }[]).map((s) => s.machine).sort()).to.deep.equal(["web-a", "web-a", "web-b"]);
    // Nothing of it went to the local SQLite store.
    const local = await cli(["history", "--json"], { env: { PATCHLAB_STORE: path.join(pg.dataDir, "..", "local.sqlite") } });
    expect(JSON.parse(local.stdout)).to.deep.equal([]);
  });

  it("a server that refuses or is gone is a lab error (exit 2) naming the store, without its password", async () => {
    const wrong = pg.url.replace(pg.password, "not-the-password");
    const r = await cli(["history", "--store", wrong]);
    expect(r.code).to.equal(2);
    expect(r.stderr).to.match(/results store postgres:\/\/patchlab:\*\*\*@127\.0\.0\.1/).and.match(/password authentication failed/);
    expect(r.stderr + r.stdout).to.not.contain("not-the-password");
    const gone = await cli(["history", "--store", pg.url.replace(`:${pg.port}/`, ":1/")]);
    expect(gone.code).to.equal(2);
    expect(gone.stderr).to.match(/ECONNREFUSED/);
    expect(gone.stderr + gone.stdout).to.not.contain(pg.password);
  });
});
