// Each harmful fixture patch, installed with dpkg on the reference lab's web machine, passes
// its install and is caught and named by the right watcher: error lines by the log watcher, a
// CPU burner, a memory grower and a crash-restart loop by the counter watcher. Lines a check
// provokes in every phase (a refused login on the db) are no finding; a new error is.
import { expect } from "chai";
import { watchBaseline, watchPhase } from "../../harness/watch/index.ts";
import type { CheckResult } from "../../harness/watch/evidence.ts";
import type { LogObservation } from "../../harness/watch/logs.ts";
import fs from "node:fs";
import path from "node:path";
import { writeWatchAllure } from "../../harness/watch/allure.ts";
import { inContainer, tmpDir } from "./support.ts";
import { cpuBurnerFixture, crashRestartFixture, errorLinesFixture, memoryGrowerFixture } from "./watch-fixtures.ts";
import { fixtureDeb, gateVerdict, installDeb, keepState, referenceLab, titles, type LabAccess } from "./watch-support.ts";
import type { DebSpec } from "./support.ts";

describe("watchers catch harmful patches on the reference lab", function () {
  this.timeout(240_000);
  let l: LabAccess;
  let state: Awaited<ReturnType<typeof keepState>>;
  let t0 = Date.now();

  before(async function () {
    t0 = Date.now();
    l = await referenceLab();
    state = await keepState(l, ["web", "db"], "watch-selftest");
  });
  afterEach(async function () {
    await state.restore();
  });
  after(async function () {
    await state?.drop();
    console.log(`      (watch-catches: ${((Date.now() - t0) / 1000).toFixed(0)} s)`);
  });

  /** Baseline window, install the fixture, a window of the same length: the watchers' results. */
  async function afterInstalling(spec: DebSpec): Promise<CheckResult[]> {
    const base = await watchBaseline(l.checks, l.ctx("web", "baseline"));
    expect(base.results.filter((r) => r.error), "every watcher observed the baseline").to.deep.equal([]);
    await installDeb(l.conn("web"), fixtureDeb(spec));
    const rs = await watchPhase(l.checks, l.ctx("web", "post-install"), base.baselines);
    expect(rs.filter((r) => r.error), "every watcher observed the phase").to.deep.equal([]);
    return rs;
  }
  const findingsOf = (rs: CheckResult[], watcher: string) => rs.flatMap((r) => r.findings).filter((f) => f.watcher === watcher);

  it("a daemon writing error lines: the log watcher names the new error signature, with sample lines", async function () {
    const rs = await afterInstalling(errorLinesFixture);
    const f = findingsOf(rs, "logs");
    expect(f.map((x) => x.title), titles(rs).join("\n")).to.deep.equal(["new error lines in container: patchlab-errord[<n>]: ERROR: cannot send metrics batch <n> to collector <ip>: Connection refused"]);
    expect(f[0]).to.include({ severity: "error", rejects: true });
    expect(f[0]!.evidence[0]!.body).to.match(/sample lines:\n {2}patchlab-errord\[\d+\]: ERROR: cannot send metrics batch \d+ to collector 127\.0\.0\.1:8125/);
    expect(findingsOf(rs, "counters").map((x) => x.title)).to.not.include("service restarted: nginx");
    expect(gateVerdict("errord", rs)).to.equal("rejected");
  });

  it("a helper burning CPU: the counter watcher reports CPU above baseline and names the process", async function () {
    const rs = await afterInstalling(cpuBurnerFixture);
    const f = findingsOf(rs, "counters").find((x) => x.title === "CPU use above baseline");
    expect(f, titles(rs).join("\n")).to.not.equal(undefined);
    expect(f!.message).to.match(/busiest: patchlab-index\w* \(pid \d+\)/);
    expect(f!.evidence.map((e) => e.contentType)).to.deep.equal(["image/svg+xml"]);
    expect(f!.evidence[0]!.body).to.include("<path");
    expect(findingsOf(rs, "logs")).to.deep.equal([]);
    // In the Allure results: the counters result failed, with the chart attached to its finding.
    const dir = tmpDir("watch-allure");
    for (const r of rs) writeWatchAllure(dir, r, { patch: "PL-FIXTURE-CPU", lab: "reference", start: Date.now() - 5000, stop: Date.now() });
    const results = fs.readdirSync(dir).filter((x) => x.endsWith("-result.json")).map((x) => JSON.parse(fs.readFileSync(path.join(dir, x), "utf8")));
    const counters = results.find((x) => x.name === "watch counters (post-install)");
    expect(counters.status).to.equal("failed");
    const chart = counters.attachments.find((a: { name: string }) => a.name === "CPU use above baseline: CPU chart");
    expect(fs.readFileSync(path.join(dir, chart.source), "utf8")).to.match(/^<svg[^]*<path[^]*<\/svg>/);
  });

  it("a helper growing steadily in memory: the counter watcher reports memory growth and names the process", async function () {
    const rs = await afterInstalling(memoryGrowerFixture);
    const f = findingsOf(rs, "counters").find((x) => x.title === "memory use grew");
    expect(f, titles(rs).join("\n")).to.not.equal(undefined);
    expect(f!.message).to.match(/growing: patchlab-cache \(pid \d+\) \+\d+/);
    expect(f!.evidence[0]!.contentType).to.equal("image/svg+xml");
  });

  it("a service that crashes and is restarted: the counter watcher reports the restarts of nginx", async function () {
    const rs = await afterInstalling(crashRestartFixture);
    const f = findingsOf(rs, "counters").find((x) => x.title === "service restarted: nginx");
    expect(f, titles(rs).join("\n")).to.not.equal(undefined);
    expect(f).to.include({ severity: "error", rejects: true });
    expect(f!.message).to.match(/nginx was restarted \d+ time\(s\)/);
    expect(f!.evidence[0]!.body).to.match(/restarted \(pid \d+ -> \d+\)/);
  });

  it("refused logins provoked in every window are no finding; a new error in the db's own log is", async function () {
    const client = l.conn("client");
    const db = l.machine("db");
    const refuse = () => client.exec(`for i in 1 2 3; do PGPASSWORD=wrong PGCONNECT_TIMEOUT=3 psql -h ${db.ip} -U labuser -d inventory -c 'select 1' >/dev/null 2>&1; sleep 0.5; done; true`);
    const base = await watchBaseline(l.checks, l.ctx("db", "baseline", { during: refuse() }));
    const logBase = base.baselines["logs"] as unknown as LogObservation;
    const pgLog = logBase.sources.find((s) => s.id.startsWith("file:/var/log/postgresql/"));
    expect(pgLog?.present, JSON.stringify(logBase.sources)).to.equal(true);
    expect(logBase.signatures.some((s) => s.error && s.source === pgLog!.id && /password authentication failed/.test(s.signature))).to.equal(true);

    const same = await watchPhase(l.checks, l.ctx("db", "post-install", { during: refuse() }), base.baselines);
    expect(titles(same)).to.deep.equal([]);

    // The control: the same window with a different error the baseline never had (another user).
    const other = () => client.exec(`for i in 1 2 3; do PGPASSWORD=wrong PGCONNECT_TIMEOUT=3 psql -h ${db.ip} -U intruder -d inventory -c 'select 1' >/dev/null 2>&1; sleep 0.5; done; true`);
    const changed = await watchPhase(l.checks, l.ctx("db", "post-install", { during: Promise.all([refuse(), other()]) }), base.baselines);
    const f = findingsOf(changed, "logs");
    expect(f.length, titles(changed).join("\n")).to.be.at.least(1);
    for (const x of f) expect(x.title).to.match(/^new error lines in file:\/var\/log\/postgresql\/postgresql-15-main\.log: .*"intruder"/);
    expect(f.some((x) => /FATAL: password authentication failed for user "intruder"/.test(x.title))).to.equal(true);
    // The harness's own view of the machine agrees the refused logins were logged.
    expect(inContainer(db.container, "grep -c 'password authentication failed' /var/log/postgresql/postgresql-15-main.log").trim()).to.not.equal("0");
  });
});
