// `patchlab watch` as a user runs it on the reference lab: record a baseline, keep watching,
// see a finding appear when something starts burning CPU on the machine, Ctrl-C stops it with
// a summary and exit 1 (a rejecting finding); bad input exits 3 naming what to fix.
import fs from "node:fs";
import path from "node:path";
import { expect } from "chai";
import { cli, cliProcess, inContainer, tmpDir } from "./support.ts";
import { keepState, referenceLab, type LabAccess } from "./watch-support.ts";

describe("patchlab watch", function () {
  this.timeout(240_000);
  let l: LabAccess;
  let state: Awaited<ReturnType<typeof keepState>>;
  let reports: string;
  let policy: string;
  let t0 = Date.now();
  const env = () => ({ PATCHLAB_REPORTS_DIR: reports });

  before(async function () {
    t0 = Date.now();
    l = await referenceLab();
    state = await keepState(l, ["web"], "watch-selftest-cli");
    reports = tmpDir("watch-cli");
    policy = path.join(reports, "ci-watch.yaml");
    // CI scale: 3 s windows sampled every second, an interval floor low enough for a test.
    fs.writeFileSync(policy, "name: ci\nwindow: { seconds: 3, sampleSeconds: 1 }\nwatch: { intervalSeconds: 5, minIntervalSeconds: 2 }\n");
  });
  after(async function () {
    await state?.restore();
    await state?.drop();
    console.log(`      (watch-cli: ${((Date.now() - t0) / 1000).toFixed(0)} s)`);
  });

  it("bad input exits 3 and names what to fix, before touching anything", async function () {
    const a = await cli(["watch", "nosuch"], { env: env() });
    expect(a.code).to.equal(3);
    expect(a.stderr).to.match(/"nosuch" is neither a machine of lab reference .* nor a lab/);
    expect(a.stderr).to.match(/remedy: name a machine \(web, dns, db, file, app, client[^)]*\)/);
    const b = await cli(["watch", "web", "--for", "2 weeks"], { env: env() });
    expect(b.code).to.equal(3);
    expect(b.stderr).to.match(/--for "2 weeks" is not a duration/);
    const c = await cli(["watch", "db", "--policy", policy], { env: env() });
    expect(c.code).to.equal(3);
    expect(c.stderr).to.match(/no stored watch baseline for db of lab reference/);
    expect(c.stderr).to.include("remedy: record one before deploying: `patchlab watch db --record-baseline`");
  });

  it("records a baseline, keeps watching, reports a finding as it appears, and stops cleanly on Ctrl-C", async function () {
    const rec = await cli(["watch", "web", "--record-baseline", "--policy", policy], { env: env() });
    expect(rec.code, rec.stderr).to.equal(0);
    expect(rec.stdout).to.match(/web: baseline stored in .*watch\/reference\/baselines\/web\.json/);
    expect(rec.stdout).to.match(/counters: 4 samples in 3\.\d s: .* sampling cost inside the machine [\d.]+ ms CPU/);

    const child = cliProcess(["watch", "web", "--for", "10m", "--interval", "4s", "--policy", policy], { ...env(), PATCHLAB_QUIET: "0" });
    let out = "";
    let err = "";
    child.stdout!.on("data", (b) => (out += b));
    child.stderr!.on("data", (b) => (err += b));
    const exited = new Promise<number>((r) => child.on("close", (code) => r(code ?? -1)));
    const waitFor = async (what: () => boolean, ms: number, label: string) => {
      const end = Date.now() + ms;
      while (!what()) {
        if (Date.now() > end) throw new Error(`timed out waiting for ${label}\nstdout:\n${out}\nstderr:\n${err}`);
        await new Promise((r) => setTimeout(r, 200));
      }
    };
    try {
      // The first window passes quietly (the machine is as it was).
      await waitFor(() => /web: \d+ samples in/.test(err), 60_000, "the first window");
      expect(out).to.not.match(/CPU use above baseline/);
      inContainer(l.machine("web").container, "setsid sh -c 'while :; do :; done' </dev/null >/dev/null 2>&1 &");
      await waitFor(() => /CPU use above baseline/.test(out), 60_000, "the CPU finding");
      expect(out).to.match(/web: \[error, rejects\] counters: CPU use above baseline\n {4}median CPU [\d.]+% of one core, baseline [\d.]+%/);
      expect(out).to.match(/evidence: .*\.svg/);
    } finally {
      child.kill("SIGINT");
    }
    const t = Date.now();
    const code = await exited;
    expect(Date.now() - t, "Ctrl-C stops within a window").to.be.lessThan(15_000);
    expect(code, `${out}\n${err}`).to.equal(1);
    expect(err).to.match(/SIGINT: stopping the watch/);
    expect(out).to.match(/watched web for .* \(stopped\): \d+ window\(s\), \d+ finding\(s\), \d+ rejecting/);
    // Findings and their evidence were written as they appeared.
    const dir = path.join(reports, "watch", "reference");
    const run = fs.readdirSync(dir).find((d) => /^\d{8}T\d{6}$/.test(d))!;
    const lines = fs.readFileSync(path.join(dir, run, "findings.jsonl"), "utf8").trim().split("\n").map((x) => JSON.parse(x));
    const cpu = lines.find((x) => x.title === "CPU use above baseline");
    expect(cpu).to.include({ machine: "web", watcher: "counters", severity: "error", rejects: true });
    const svg = fs.readFileSync(path.join(dir, run, cpu.evidence[0]), "utf8");
    expect(svg).to.match(/^<svg /);
  });
});
