// Ending the readiness wait early: a real port on loopback is the service's socket, a scripted
// machine answers the evidence probe (init script status, listening sockets).
import net from "node:net";
import { expect } from "chai";
import { freePort } from "./free-port.ts";
import { LabError } from "../../../harness/core/errors.ts";
import { parseEvidence, readyOrGiveUp, stoppedServicesEvidence, type Evidence } from "../../../harness/readiness/give-up.ts";
import { port, waitUntil } from "../../../harness/readiness/wait.ts";
import { FakeConn } from "../patch/fake-conn.ts";
import { uninstallCheck } from "../../../harness/patch/install-check.ts";
import type { PatchArtifact, PatchProvisioner } from "../../../harness/patch/types.ts";


/** The driver's readiness wait on one real port. */
const readyOn = (p: number) => (deadline: number) => waitUntil([port(p)], { machine: "web", ip: "127.0.0.1", conn: new FakeConn() }, deadline);
const stopped: Evidence = { dead: true, detail: "service(s) nginx not running (listening: tcp/22)" };
const running: Evidence = { dead: false, detail: "service(s) nginx running or unknown" };
const fast = { graceMs: 300, sliceMs: 50, minPolls: 3 };

async function rejection(p: Promise<unknown>): Promise<LabError> {
  try {
    await p;
  } catch (e) {
    return e as LabError;
  }
  throw new Error("expected the wait to fail");
}

describe("readiness: ending the wait when nothing is left to come up", function () {
  this.timeout(15_000);
  it("a service slow to start (its process is there) is waited for until its port opens, long after the grace", async () => {
    const p = await freePort();
    const server = net.createServer();
    const opens = setTimeout(() => server.listen(p, "127.0.0.1"), 1500);
    let polls = 0;
    try {
      const t = Date.now();
      await readyOrGiveUp(readyOn(p), Date.now() + 10_000, async () => (polls++, running), fast);
      expect(Date.now() - t).to.be.at.least(1400);
      expect(polls).to.be.greaterThan(3); // the evidence was looked at, and did not end the wait
    } finally {
      clearTimeout(opens);
      server.close();
    }
  });

  it("a service stopped at first that then starts resets the count and is waited for", async () => {
    const p = await freePort();
    const server = net.createServer();
    const opens = setTimeout(() => server.listen(p, "127.0.0.1"), 1500);
    let polls = 0;
    try {
      const t = Date.now();
      // Stopped on the first two polls (shorter than the grace), running (starting) after.
      await readyOrGiveUp(readyOn(p), Date.now() + 10_000, async () => (++polls <= 2 ? stopped : running), fast);
      expect(Date.now() - t).to.be.at.least(1400);
    } finally {
      clearTimeout(opens);
      server.close();
    }
  });

  it("a dead service (stopped, port refused, unchanged poll after poll) is given up after the grace, not the deadline", async () => {
    const p = await freePort();
    const t = Date.now();
    const e = await rejection(readyOrGiveUp(readyOn(p), Date.now() + 20_000, async () => stopped, fast));
    const took = Date.now() - t;
    expect(e).to.be.instanceOf(LabError);
    expect(e.kind).to.equal("readiness-timeout");
    expect(e.machine).to.equal("web");
    expect(took).to.be.at.least(300).and.below(3000);
    expect(e.message).to.match(new RegExp(`^web not ready before its deadline: waiting for tcp/${p} accepting; last seen: tcp/${p}: ECONNREFUSED; stopped waiting after \\d+\\.\\d s: service\\(s\\) nginx not running \\(listening: tcp/22\\), unchanged on \\d+ consecutive polls over \\d+\\.\\d s, so nothing is left to come up$`));
  });

  it("by default a dead service ends the wait on the second poll a second later (about 2 s, not the step's 20 s)", async () => {
    const p = await freePort();
    const saved = process.env.PATCHLAB_READY_DEAD_GRACE_MS;
    delete process.env.PATCHLAB_READY_DEAD_GRACE_MS;
    let polls = 0;
    try {
      const t = Date.now();
      const e = await rejection(readyOrGiveUp(readyOn(p), Date.now() + 20_000, async () => (polls++, stopped)));
      const took = Date.now() - t;
      expect(polls, e.message).to.equal(2);
      expect(e.message).to.match(/stopped waiting after .* unchanged on 2 consecutive polls/);
      expect(took).to.be.at.least(1900).and.below(4000);
    } finally {
      if (saved !== undefined) process.env.PATCHLAB_READY_DEAD_GRACE_MS = saved;
    }
  });

  it("a changing machine (a socket opens, a service flips) never counts as dead: the deadline holds", async () => {
    const p = await freePort();
    let n = 0;
    const t = Date.now();
    const changing = async (): Promise<Evidence> => ({ dead: true, detail: `service(s) nginx not running (listening: tcp/${1000 + n++})` });
    const e = await rejection(readyOrGiveUp(readyOn(p), Date.now() + 1200, changing, fast));
    expect(Date.now() - t).to.be.at.least(1150);
    expect(e.kind).to.equal("readiness-timeout");
    expect(e.message).not.to.match(/stopped waiting/);
    const flipping = async (): Promise<Evidence> => (n++ % 2 ? stopped : running);
    const e2 = await rejection(readyOrGiveUp(readyOn(p), Date.now() + 1200, flipping, fast));
    expect(e2.message).not.to.match(/stopped waiting/);
  });

  it("without evidence it is the plain wait, and errors other than a readiness timeout pass through", async () => {
    const seen: number[] = [];
    await readyOrGiveUp(async (d) => void seen.push(d), 12345, undefined);
    expect(seen).to.deep.equal([12345]);
    const boom = new LabError("exec", "engine gone", "x");
    const e = await rejection(readyOrGiveUp(async () => Promise.reject(boom), Date.now() + 5000, async () => stopped, fast));
    expect(e).to.equal(boom);
  });

  it("the evidence probe asks each stopped service's init script and reads the listening sockets; no answer is no evidence", async () => {
    const conn = new FakeConn((cmd) =>
      cmd.includes("listening tcp") ? { stdout: "nginx stopped\nphp-fpm running\nlistening tcp 00000000:0016\nlistening tcp 00000000:0016\nlistening udp 0B00007F:0035\n" } : undefined,
    );
    const ev = stoppedServicesEvidence(conn, ["nginx", "php-fpm", "bad;name"])!;
    expect(await ev()).to.deep.equal({ dead: false, detail: "service(s) php-fpm running or unknown" });
    expect(conn.commands[0]).to.include("for s in nginx php-fpm; do");
    expect(parseEvidence("nginx stopped\nlistening tcp 00000000:0016\nlistening udp 0B00007F:0035\n", ["nginx"])).to.deep.equal({
      dead: true,
      detail: "service(s) nginx not running (listening: tcp/22, udp/53)",
    });
    // A service the probe did not report on is unknown, not stopped.
    expect(parseEvidence("", ["nginx"]).dead).to.equal(false);
    expect(stoppedServicesEvidence(conn, [])).to.equal(undefined);
    const failing = new FakeConn(() => ({ exitCode: 1 }));
    expect((await stoppedServicesEvidence(failing, ["nginx"])!()).dead).to.equal(false);
  });

  it("the uninstall check uses it: nginx stopped before and after (a bad patch's leftovers) ends early, judged the same way", async () => {
    const p = await freePort();
    const SEP = "--patchlab-state--";
    const state = ["nginx\t1.0\tii ", "root:x:0:0:root:/root:/bin/sh", "root:x:0:", "", "", "", "nginx stopped", ""].join(`\n${SEP}\n`);
    let installed = true;
    const conn = new FakeConn((cmd) => {
      if (cmd.includes("listening tcp")) return { stdout: "nginx stopped\nlistening tcp 00000000:0016\n" };
      if (cmd.includes("${binary:Package}")) return { stdout: state };
      return undefined;
    });
    const prov: PatchProvisioner = {
      install: async () => ({ ok: true, message: "x", output: "", durationMs: 1 }),
      uninstall: async () => ((installed = false), { ok: true, message: "pl removed", output: "", durationMs: 1 }),
      isInstalled: async () => installed,
    };
    const a = { patch: { id: "PL-BAD", kind: "deb" }, package: "pl", version: "1" } as unknown as PatchArtifact;
    const t = Date.now();
    const r = await uninstallCheck(conn, prov, a, { ready: readyOn(p), deadline: Date.now() + 20_000, labHealthy: async () => true, giveUp: fast });
    expect(Date.now() - t).to.be.below(3000);
    expect(r.status).to.equal("failed");
    expect(r.message).to.match(/^uninstall of PL-BAD succeeded but not ready after the uninstall: web not ready before its deadline: .*; stopped waiting after .* s: service\(s\) nginx not running \(listening: tcp\/22\), unchanged on/);
    expect(conn.commands.filter((c) => c.includes("listening tcp")).length).to.be.at.least(3);
  });
});
