// `patchlab watch` logic without a lab: durations, the follow loop (whole windows, each
// finding once, broken streaks, stop on time or signal) and stored baselines.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { expect } from "chai";
import { ConfigError } from "../../../harness/core/errors.ts";
import { follow, parseDuration } from "../../../harness/watch/follow.ts";
import { baselineFile, loadBaseline, saveBaseline } from "../../../harness/watch/store.ts";
import type { Baseline, Check, Finding } from "../../../harness/watch/types.ts";
import { ctxFor, LocalConnection } from "./helpers.ts";

const f = (title: string): Finding => ({ watcher: "counters", severity: "error", rejects: true, title, message: title, evidence: [] });

describe("watch: durations", () => {
  it("parses 2w, 36h, 1h30m, 45s, 500ms", () => {
    expect(parseDuration("2w", "--for")).to.equal(14 * 86_400_000);
    expect(parseDuration("36h", "--for")).to.equal(36 * 3_600_000);
    expect(parseDuration("1h30m", "--for")).to.equal(5_400_000);
    expect(parseDuration("45s", "--interval")).to.equal(45_000);
    expect(parseDuration("500ms", "--interval")).to.equal(500);
  });
  it("a bad duration is a ConfigError naming the option and the units", () => {
    for (const bad of ["", "2 weeks", "10", "5x", "1h 30m"]) {
      expect(() => parseDuration(bad, "--for"), bad).to.throw(ConfigError, /--for ".*" is not a duration/);
    }
  });
});

describe("watch: follow loop", () => {
  /** Finds what `script[k]` says in its k-th window; throws for "broken". */
  function scripted(script: (string[] | "broken")[]): Check & { windows: number } {
    const c = {
      name: "counters",
      windows: 0,
      async before(): Promise<Baseline> { return { watcher: "counters", version: 1 }; },
      async after(ctx: { window: { ms: number; signal?: AbortSignal } }): Promise<Finding[]> {
        const k = c.windows++;
        await new Promise((r) => setTimeout(r, ctx.window.ms));
        const s = script[Math.min(k, script.length - 1)]!;
        if (s === "broken") throw new Error("machine stopped");
        return s.map(f);
      },
    };
    return c as never;
  }
  const machines = (n = 1) => Array.from({ length: n }, (_, i) => ({ name: `m${i}`, baselines: { counters: { watcher: "counters", version: 1 } as Baseline }, context: (w: never) => ({ ...ctxFor(new LocalConnection()), window: w }) }));

  it("one window per interval, each finding reported once as it appears, stops at the end of the period", async () => {
    const check = scripted([[], ["CPU use above baseline"], ["CPU use above baseline", "memory use grew"], []]);
    const reported: string[] = [];
    const r = await follow({ machines: machines(), checks: [check], window: { ms: 50, sampleMs: 25 }, intervalMs: 200, forMs: 830, onFinding: (m, x) => reported.push(`${m}: ${x.title}`) });
    // Windows start at 0, 200, 400, 600 ms; the fifth (800 + 50 > 830) would not fit. 180 ms of slack for a busy host.
    expect(r.stoppedBy).to.equal("time");
    expect(r.windows).to.equal(4);
    expect(reported).to.deep.equal(["m0: CPU use above baseline", "m0: memory use grew"]);
    expect(r.findings.map((x) => x.atMs)).to.satisfy((a: number[]) => a[0]! >= 190 && a[1]! >= 390);
  });

  it("a watcher that cannot observe is reported once per streak and counted, not a finding", async () => {
    const broken: string[] = [];
    const r = await follow({ machines: machines(), checks: [scripted(["broken", "broken", [], "broken"])], window: { ms: 50, sampleMs: 25 }, intervalMs: 200, forMs: 830, onBroken: (m, c, e) => broken.push(`${m} ${c}: ${e}`) });
    // Windows at 0, 200, 400, 600 ms, as above (180 ms of slack for a busy host; 30 ms was not enough).
    expect(r.windows).to.equal(4);
    expect(r.brokenWindows).to.equal(3);
    expect(broken).to.deep.equal(["m0 counters: unexpected error: machine stopped", "m0 counters: unexpected error: machine stopped"]);
    expect(r.findings).to.deep.equal([]);
  });

  it("an abort (Ctrl-C) stops promptly and drops the window it cut short", async () => {
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 120);
    const t0 = Date.now();
    const r = await follow({ machines: machines(2), checks: [scripted([["CPU use above baseline"]])], window: { ms: 100, sampleMs: 50 }, intervalMs: 1000, forMs: 3_600_000, signal: ac.signal });
    expect(Date.now() - t0).to.be.lessThan(1500);
    expect(r.stoppedBy).to.equal("signal");
    expect(r.windows).to.equal(1);
    expect(r.findings.map((x) => x.machine)).to.deep.equal(["m0", "m1"]);
  });
});

describe("watch: stored baselines", () => {
  let dir: string;
  const prev = process.env.PATCHLAB_REPORTS_DIR;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "patchlab-store-"));
    process.env.PATCHLAB_REPORTS_DIR = dir;
  });
  afterEach(() => {
    if (prev === undefined) delete process.env.PATCHLAB_REPORTS_DIR;
    else process.env.PATCHLAB_REPORTS_DIR = prev;
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it("saves and loads a machine's baseline under reports/watch/<lab>/baselines/", () => {
    const b = { schemaVersion: 1 as const, lab: "reference", machine: "web", recordedAt: "2030-01-01T00:00:00Z", policy: "watch", window: { ms: 30_000, sampleMs: 2000 }, baselines: { logs: { watcher: "logs", version: 1 as const, signatures: [] } } };
    const file = saveBaseline(b);
    expect(file).to.equal(path.join(dir, "watch", "reference", "baselines", "web.json"));
    expect(loadBaseline("reference", "web", "hint")).to.deep.equal(b);
  });

  it("a missing or damaged baseline is a ConfigError saying how to record one", () => {
    expect(() => loadBaseline("reference", "db", "patchlab watch db --record-baseline")).to.throw(ConfigError, /no stored watch baseline for db/).with.property("remedy").that.includes("patchlab watch db --record-baseline");
    fs.mkdirSync(path.dirname(baselineFile("reference", "web")), { recursive: true });
    fs.writeFileSync(baselineFile("reference", "web"), JSON.stringify({ schemaVersion: 1, lab: "reference" }));
    expect(() => loadBaseline("reference", "web", "x")).to.throw(ConfigError, /web\.json: machine: /);
  });
});
