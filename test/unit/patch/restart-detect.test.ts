import { expect } from "chai";
import { LabError } from "../../../harness/core/errors.ts";
import { applyRestart, attribute, decideRestart, parseScan, type RestartScan } from "../../../harness/patch/restart-detect.ts";
import type { PatchArtifact } from "../../../harness/patch/types.ts";
import { FakeConn } from "./fake-conn.ts";

const SEP = "--patchlab-restart--";
const LIB = "/usr/lib/x86_64-linux-gnu/libpcre2-8.so.0.11.2";

/** Scan output of a web machine: tini, patchlab-init, nginx master + 2 workers, a docker exec shell. */
function scanOutput(o: { stale?: string; pidfiles?: string; services?: string; flags?: string } = {}): string {
  return [
    ["T 1 0", "T 7 1", "T 24 1", "T 25 24", "T 26 24", "T 28 7", "T 90 0", o.stale ?? `P 24 1 nginx\nF ${LIB}\nP 25 24 nginx\nF ${LIB}\nP 26 24 nginx\nF ${LIB}`].join("\n"),
    o.pidfiles ?? "/run/nginx.pid 24",
    o.services ?? "S nginx running\nM nginx /run/nginx.pid",
    o.flags ?? "",
    "",
  ].join(`\n${SEP}\n`);
}

const scan = (o: Parameters<typeof scanOutput>[0] = {}, owners: Record<string, string> = { [LIB]: "libpcre2-8-0" }): RestartScan => ({ ...parseScan(scanOutput(o)), owners });

describe("restart detection", () => {
  it("finds the processes mapping a replaced library and the service they belong to (master and workers)", () => {
    const s = scan();
    expect(s.stale.map((p) => [p.pid, p.service])).to.deep.equal([[24, "nginx"], [25, "nginx"], [26, "nginx"]]);
    expect(s.services).to.deep.equal(["nginx"]);
    expect(s.unowned).to.deep.equal([]);
    expect(s.serviceState).to.deep.equal({ nginx: "running" });
  });

  it("a pid file is tied to its service by name, by folder, or because the init script names it", () => {
    const s = parseScan(scanOutput({ stale: `P 30 1 postgres\nF ${LIB}\nP 40 1 named\nF ${LIB}\nP 50 1 smbd\nF ${LIB}`, pidfiles: "/run/postgresql/15-main.pid 30\n/run/named/named.pid 40\n/run/samba/smbd-main.pid 50", services: "S postgresql running\nS bind9 running\nM bind9 /run/named\nS samba running\nM samba /var/run/samba/smbd-main.pid" }));
    expect(s.stale.map((p) => p.service)).to.deep.equal(["postgresql", "bind9", "samba"]);
  });

  it("stale init (PID 1) and processes of no service mean a machine restart; harness exec sessions do not count", () => {
    const s = parseScan(scanOutput({ stale: `P 1 0 tini\nF /usr/lib/x86_64-linux-gnu/libc.so.6\nP 90 0 sh\nF /usr/lib/x86_64-linux-gnu/libc.so.6` }));
    expect(s.stale.map((p) => p.pid)).to.deep.equal([1]);
    expect(s.unowned.map((p) => p.pid)).to.deep.equal([1]);
    const d = decideRestart({ ...s, owners: {} }, { declared: "none" });
    expect(d.needed).to.equal("machine");
    expect(d.undeclared).to.equal(true);
    expect(d.reasons[0]).to.match(/^init \(PID 1\) \(pid 1 tini\) still runs replaced .*libc\.so\.6/);
  });

  it("an update that replaces a library a daemon maps, with no restart declared: restart the service, 'restart needed but not declared'", () => {
    const a = { patch: { id: "PL-PCRE", kind: "deb" }, package: "libpcre2-8-0", payload: [{ package: "libpcre2-8-0", version: "10.42-1+pl1" }] } as unknown as PatchArtifact;
    const d = decideRestart(scan(), { declared: "none", artifacts: [a] });
    expect(d).to.deep.include({ needed: "services", services: ["nginx"], undeclared: true, causedBy: ["PL-PCRE"] });
    expect(d.reasons).to.deep.equal([`service nginx (pid 24, 25, 26 nginx) still runs replaced ${LIB} (from libpcre2-8-0)`]);
  });

  it("what was already stale before the install is not put on the patch", () => {
    const d = decideRestart(scan(), { declared: "none", before: scan() });
    expect(d).to.deep.include({ needed: "none", undeclared: false });
  });

  it("a declared machine restart is needed and not 'undeclared'", () => {
    const d = decideRestart(scan({ stale: "" }), { declared: "machine" });
    expect(d).to.deep.include({ needed: "machine", undeclared: false });
  });

  it("a new /run/reboot-required or the installer's restart exit code asks for a machine restart", () => {
    expect(decideRestart(scan({ stale: "", flags: "reboot-required" }), { declared: "none" })).to.deep.include({ needed: "machine", undeclared: true });
    expect(decideRestart(scan({ stale: "", flags: "reboot-required" }), { declared: "none", before: scan({ stale: "", flags: "reboot-required" }) }).needed).to.equal("none");
    expect(decideRestart(scan({ stale: "" }), { declared: "none", installerSaysRestart: true }).reasons).to.deep.equal(["the installer's exit code says the machine must restart"]);
  });

  it("replaced files are blamed on the patch that owns them: by package, or by target for files patches", () => {
    const files = { patch: { id: "PL-F", kind: "files", files: { replace: [{ target: "/usr/sbin/acme" }] } }, package: "PL-F", payload: [] } as unknown as PatchArtifact;
    const deb = { patch: { id: "PL-D", kind: "deb" }, package: "libfoo1", payload: [{ package: "libfoo1", version: "2" }] } as unknown as PatchArtifact;
    expect(attribute(["/usr/sbin/acme", "/usr/lib/libfoo.so.1"], { "/usr/lib/libfoo.so.1": "libfoo1" }, [files, deb])).to.deep.equal(["PL-F", "PL-D"]);
  });

  describe("applying the restart", () => {
    const decision = decideRestart(scan(), { declared: "none" });
    const hooks = (o: { ready?: () => Promise<void>; healthy?: boolean; machine?: () => Promise<void> } = {}) => ({
      restartMachine: o.machine ?? (async () => {}),
      ready: o.ready ?? (async () => {}),
      labHealthy: async () => o.healthy ?? true,
    });
    const cleanScan = (cmd: string) => (cmd.startsWith("sh -c export LC_ALL=C") ? { stdout: scanOutput({ stale: "" }) } : undefined);

    it("restarts the services with their init scripts, waits for readiness, and checks nothing stale is left", async () => {
      const conn = new FakeConn(cleanScan);
      const r = await applyRestart(conn, decision, hooks(), { deadline: Date.now() + 1000 });
      expect(r.status, r.message).to.equal("passed");
      expect(r.restarted).to.deep.equal(["nginx"]);
      expect(conn.steps()).to.deep.equal(["/etc/init.d/'nginx' restart"]);
    });

    it("a service whose restart fails is the patch's failure when the lab is healthy, a lab error when not", async () => {
      const failing = (cmd: string) => (cmd.includes("exec timeout") ? { exitCode: 1, stdout: "nginx: [emerg] unknown directive" } : cleanScan(cmd));
      const r1 = await applyRestart(new FakeConn(failing), decision, hooks({ healthy: true }), { deadline: Date.now() + 1000 });
      expect(r1.status).to.equal("failed");
      expect(r1.message).to.match(/restart of service nginx exited 1: nginx: \[emerg\] unknown directive \(the lab itself is healthy/);
      const r2 = await applyRestart(new FakeConn(failing), decision, hooks({ healthy: false }), { deadline: Date.now() + 1000 });
      expect(r2.status).to.equal("broken");
    });

    it("a machine that does not come back in time: failed when the lab is healthy, broken otherwise", async () => {
      const d = decideRestart(scan({ stale: "" }), { declared: "machine" });
      const timeout = async () => {
        throw new LabError("readiness-timeout", "web not ready within 60 s", "x");
      };
      expect((await applyRestart(new FakeConn(cleanScan), d, hooks({ machine: timeout, healthy: true }), { deadline: 0 })).status).to.equal("failed");
      expect((await applyRestart(new FakeConn(cleanScan), d, hooks({ machine: timeout, healthy: false }), { deadline: 0 })).status).to.equal("broken");
      const engine = async () => {
        throw new LabError("engine-unreachable", "no engine", "x");
      };
      expect((await applyRestart(new FakeConn(cleanScan), d, hooks({ machine: engine, healthy: true }), { deadline: 0 })).status).to.equal("broken");
    });

    it("a service still running replaced code after its restart fails the restart", async () => {
      const conn = new FakeConn((cmd) => (cmd.startsWith("sh -c export LC_ALL=C") ? { stdout: scanOutput() } : undefined));
      const r = await applyRestart(conn, decision, hooks(), { deadline: Date.now() + 1000 });
      expect(r.status).to.equal("failed");
      expect(r.message).to.match(/still running replaced code after the restart: nginx \(pid 24\)/);
    });

    it("nothing to restart: skipped, nothing run", async () => {
      const conn = new FakeConn();
      const r = await applyRestart(conn, decideRestart(scan({ stale: "" }), { declared: "none" }), hooks(), { deadline: 0 });
      expect(r.status).to.equal("skipped");
      expect(conn.commands).to.deep.equal([]);
    });
  });
});
