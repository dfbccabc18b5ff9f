// The counter watcher: the sampler's parsing (and the real script on this host's /proc),
// service crash/restart detection from pids, and the policy thresholds on CPU, memory,
// processes and services.
import { expect } from "chai";
import { compareCounters, counterNote, serviceEvents, summarise, type CounterObservation } from "../../../harness/watch/counters.ts";
import { defaultWatchPolicy } from "../../../harness/watch/policy.ts";
import { parseSample, parseTimes, sampleMachine, type MachineSample, type Proc } from "../../../harness/watch/sampler.ts";
import type { Sampled } from "../../../harness/watch/window.ts";
import { LocalConnection } from "./helpers.ts";

const policy = defaultWatchPolicy();
const proc = (pid: number, comm: string, o: Partial<Proc> = {}): Proc => ({ pid, ppid: 1, start: pid * 10, ticks: 0, rssKb: 1000, threads: 1, comm, ...o });
const BASE_PROCS = [proc(1, "tini", { ppid: 0 }), proc(7, "patchlab-init"), proc(30, "nginx"), proc(31, "nginx", { ppid: 30 }), proc(34, "sleep", { ppid: 7 })];

/** Raw samples 1 s apart: cpu in % of a core, mem in MB, procs transformed per sample. */
function raw(n: number, o: { cpu?: (i: number) => number; mem?: (i: number) => number; procs?: (i: number) => Proc[] } = {}): Sampled<{ machine: MachineSample; engine: { at: number; cpuNs: number; memBytes: number } }>[] {
  let cpuNs = 0;
  return Array.from({ length: n }, (_, i) => {
    if (i > 0) cpuNs += ((o.cpu?.(i) ?? 1) / 100) * 1e9;
    return {
      t: i * 1000,
      value: {
        machine: { procs: o.procs?.(i) ?? BASE_PROCS, fds: 40, hz: 100, costMs: i % 2 ? 10 : 0 },
        engine: { at: 1_000_000 + i * 1000, cpuNs, memBytes: (o.mem?.(i) ?? 20) * 1048576 },
      },
    };
  });
}
const observe = (r: ReturnType<typeof raw>): CounterObservation => summarise("web", r, (r.length - 1) * 1000, 1000);
const titles = (f: { title: string }[]) => f.map((x) => x.title);

describe("watch: machine sampler", () => {
  it("parses process lines, open files, clock ticks and the sample's own CPU cost", () => {
    const s = parseSample("F 57\nH 100\nP 1 0 52590 6 1120 1 tini\nP 45 1 52855 8 30468 3 postgres\nP 9 1 9 0 10 1 my_helper\nT 0m0.010000s 0m0.000000s 0m0.020000s 0m0.000000s\n");
    expect(s.fds).to.equal(57);
    expect(s.hz).to.equal(100);
    expect(s.costMs).to.equal(30);
    expect(s.procs[1]).to.deep.equal({ pid: 45, ppid: 1, start: 52855, ticks: 8, rssKb: 30468, threads: 3, comm: "postgres" });
    expect(parseTimes("1m0.500000s 0m0.000000s")).to.equal(60_500);
    // The machine's CPU counter around the sample (ns) wins over the shell's 10 ms ticks.
    expect(parseSample("P 1 0 1 0 1 1 tini\nT 0m0.000000s 0m0.000000s 0m0.000000s 0m0.000000s\nC 12345678\n").costMs).to.equal(12.35);
  });

  it("the real sampler script reads this host's /proc and leaves itself out", async () => {
    const s = await sampleMachine(new LocalConnection());
    expect(s.procs.length).to.be.greaterThan(1);
    expect(s.procs.some((p) => p.pid === process.pid && p.comm === "node")).to.equal(true);
    // The sampler's shell (a child of this process) is left out, and so are its cat and awk: any
    // awk or cat still listed belongs to someone else, so its parent is listed too.
    const pids = new Set(s.procs.map((p) => p.pid));
    expect(s.procs.some((p) => p.ppid === process.pid && p.comm === "sh")).to.equal(false);
    expect(s.procs.filter((p) => ["awk", "mawk", "cat"].includes(p.comm) && !pids.has(p.ppid))).to.deep.equal([]);
    expect(s.fds).to.be.greaterThan(0);
    expect(s.procs.every((p) => Number.isFinite(p.rssKb) && p.threads >= 1)).to.equal(true);
    expect(s.costMs).to.be.greaterThan(0); // this host has a readable CPU counter (cgroup v1 or v2)
  });
});

describe("watch: service crashes and restarts", () => {
  const at = (t: number, services: { pid: number; start: number; comm: string }[]) => ({ t, services });
  it("a service whose pid changes was restarted; one that vanishes died; a helper that comes and goes is ignored", () => {
    const ev = serviceEvents([
      at(0, [{ pid: 30, start: 300, comm: "nginx" }, { pid: 40, start: 400, comm: "named" }]),
      at(1, [{ pid: 30, start: 300, comm: "nginx" }, { pid: 40, start: 400, comm: "named" }, { pid: 50, start: 500, comm: "helper" }]),
      at(2, [{ pid: 88, start: 880, comm: "nginx" }, { pid: 40, start: 400, comm: "named" }]),
      at(3, [{ pid: 88, start: 880, comm: "nginx" }]),
    ]);
    expect(ev).to.deep.equal([
      { comm: "nginx", kind: "restarted", t: 2, from: 30, to: 88 },
      { comm: "named", kind: "died", t: 3, from: 40 },
    ]);
  });
  it("a service that is gone for a while and comes back under a new pid was restarted, not dead", () => {
    const ev = serviceEvents([at(0, [{ pid: 30, start: 300, comm: "nginx" }]), at(1, []), at(2, []), at(3, [{ pid: 77, start: 770, comm: "nginx" }])]);
    expect(ev).to.deep.equal([{ comm: "nginx", kind: "restarted", t: 1, from: 30, to: 77 }]);
  });
  it("pid reuse with a new start time is still a restart", () => {
    const ev = serviceEvents([at(0, [{ pid: 30, start: 300, comm: "nginx" }]), at(1, [{ pid: 30, start: 999, comm: "nginx" }])]);
    expect(ev[0]).to.include({ kind: "restarted" });
  });
});

describe("watch: counter comparison", () => {
  it("the same behaviour gives no finding", () => {
    const base = observe(raw(6));
    expect(compareCounters(base, observe(raw(6, { cpu: (i) => (i % 2 ? 3 : 1), mem: (i) => 20 + (i % 2) })), policy)).to.deep.equal([]);
  });

  it("median CPU +20 points is a finding naming the busiest process, with a chart", () => {
    const burner = (i: number) => [...BASE_PROCS, proc(99, "sh", { ticks: i * 95 })];
    const f = compareCounters(observe(raw(6)), observe(raw(6, { cpu: () => 97, procs: burner })), policy, "post-install");
    expect(titles(f)).to.deep.equal(["CPU use above baseline"]);
    expect(f[0]!.message).to.match(/median CPU 97\.0% of one core, baseline 1\.0%/);
    expect(f[0]!.message).to.include("sh (pid 99) 95.0%");
    expect(f[0]!.evidence[0]!.contentType).to.equal("image/svg+xml");
    expect(f[0]!.evidence[0]!.body).to.include("post-install");
    // +15 points: under the threshold
    expect(compareCounters(observe(raw(6)), observe(raw(6, { cpu: () => 16 })), policy)).to.deep.equal([]);
  });

  it("memory above the baseline median, or growing steadily within the window, is a finding naming the grower", () => {
    const grower = (i: number) => [...BASE_PROCS, proc(70, "perl", { rssKb: 1000 + i * 12 * 1024 })];
    const f = compareCounters(observe(raw(6)), observe(raw(6, { mem: (i) => 20 + i * 12, procs: grower })), policy);
    expect(titles(f)).to.deep.equal(["memory use grew"]);
    expect(f[0]!.message).to.include("perl (pid 70) +60.0 MB");
    // A steady leak that has not yet passed +50 MB of median still shows as steady growth (+45 MB in the window).
    expect(titles(compareCounters(observe(raw(6)), observe(raw(6, { mem: (i) => 20 + i * 9 })), policy))).to.deep.equal(["memory use grew"]);
    // Noise of +-10 MB is neither.
    expect(compareCounters(observe(raw(6)), observe(raw(6, { mem: (i) => 20 + (i % 2 ? 10 : -5) })), policy)).to.deep.equal([]);
  });

  it("more processes than the baseline, or a steadily growing number, is a finding", () => {
    const more = (n: number) => () => [...BASE_PROCS, ...Array.from({ length: n }, (_, k) => proc(200 + k, "worker", { ppid: 30 }))];
    expect(titles(compareCounters(observe(raw(6)), observe(raw(6, { procs: more(6) })), policy))).to.deep.equal(["process count grew"]);
    const forking = (i: number) => more(i * 2)();
    expect(titles(compareCounters(observe(raw(6)), observe(raw(6, { procs: forking })), policy))).to.include("process count grew");
    expect(compareCounters(observe(raw(6)), observe(raw(6, { procs: more(2) })), policy)).to.deep.equal([]);
  });

  it("more processes of programs the baseline already ran (a worker pool resizing) is a warning; a new program, or steady growth, still rejects", () => {
    const pool = (n: number) => () => [...BASE_PROCS, ...Array.from({ length: n }, (_, k) => proc(200 + k, "nginx", { ppid: 30 }))];
    const base = observe(raw(6, { procs: pool(1) }));
    const resized = compareCounters(base, observe(raw(6, { procs: pool(7) })), policy);
    expect(titles(resized)).to.deep.equal(["process count grew"]);
    expect(resized[0]).to.include({ severity: "warning", rejects: false });
    expect(resized[0]!.message).to.match(/only more processes of the same \(.*nginx \d+ -> \d+.*\): a worker pool resizing/);
    const newcomer = () => [...pool(1)(), ...Array.from({ length: 6 }, (_, k) => proc(400 + k, "miner", { ppid: 1 }))];
    const fresh = compareCounters(base, observe(raw(6, { procs: newcomer })), policy);
    expect(fresh.find((f) => f.title === "process count grew")).to.include({ rejects: true });
    expect(fresh.find((f) => f.title === "process count grew")!.message).to.match(/new programs: miner/);
    const leaking = compareCounters(base, observe(raw(6, { procs: (i) => pool(1 + i * 3)() })), policy);
    expect(leaking.find((f) => f.title === "process count grew")).to.include({ rejects: true });
  });

  it("a steady climb back to the baseline's level (workers forked again after a restart) is no finding", () => {
    const more = (n: number) => [...BASE_PROCS, ...Array.from({ length: n }, (_, k) => proc(200 + k, "worker", { ppid: 30 }))];
    // Baseline: 8 workers (some come and go); after a reload the workers climb from 0 back to 8.
    const base = observe(raw(6, { procs: (i) => more(i % 2 ? 8 : 7), mem: () => 60 }));
    const climbing = observe(raw(6, { procs: (i) => more(Math.min(8, i * 2)), mem: (i) => 20 + i * 8 }));
    expect(compareCounters(base, climbing, policy)).to.deep.equal([]);
    // The same climb past the baseline's highest is growth.
    const past = observe(raw(6, { procs: (i) => more(4 + i * 2) }));
    expect(titles(compareCounters(base, past, policy))).to.include("process count grew");
  });

  it("a service restarted within the window is a rejecting finding; in the baseline too, a non-rejecting warning", () => {
    const restarting = (i: number) => BASE_PROCS.map((p) => (p.comm === "nginx" && p.ppid === 1 ? proc(300 + i, "nginx", { start: 3000 + i }) : p));
    const f = compareCounters(observe(raw(6)), observe(raw(6, { procs: restarting })), policy);
    expect(titles(f)).to.deep.equal(["service restarted: nginx"]);
    expect(f[0]).to.include({ severity: "error", rejects: true });
    expect(f[0]!.message).to.match(/restarted 5 time\(s\)/);
    expect(f[0]!.evidence[0]!.body).to.match(/restarted \(pid 300 -> 301\)/);
    const flapping = compareCounters(observe(raw(6, { procs: restarting })), observe(raw(6, { procs: restarting })), policy);
    expect(flapping[0]).to.include({ severity: "warning", rejects: false });
  });

  it("a service that died within the window, or that is not running at all, is a finding", () => {
    const dies = (i: number) => (i < 3 ? BASE_PROCS : BASE_PROCS.filter((p) => p.comm !== "nginx"));
    expect(titles(compareCounters(observe(raw(6)), observe(raw(6, { procs: dies })), policy))).to.deep.equal(["service died: nginx"]);
    const never = () => BASE_PROCS.filter((p) => p.comm !== "nginx");
    expect(titles(compareCounters(observe(raw(6)), observe(raw(6, { procs: never })), policy))).to.deep.equal(["service not running: nginx"]);
  });

  it("reports the sampling's own cost with every observation", () => {
    const o = observe(raw(6));
    expect(o.overhead).to.deep.equal({ samples: 6, cpuMs: 30, pointsOfCore: 0.6 });
    expect(counterNote(o)).to.include("sampling cost inside the machine 30 ms CPU (0.6% of one core)");
  });
});
