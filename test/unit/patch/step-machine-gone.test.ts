// A failing installer step counts against the patch only while its machine still runs: dpkg
// "exited 137" because the machine was killed under it is a lab error (machine-killed).
import { expect } from "chai";
import { LabError } from "../../../harness/core/errors.ts";
import { runStep } from "../../../harness/patch/exec.ts";
import { FakeConn } from "./fake-conn.ts";

describe("installer step on a machine that stopped", () => {
  it("a step that failed on a machine that no longer runs commands is a machine-killed lab error", async () => {
    const conn = new FakeConn((cmd) => (cmd.includes("dpkg") ? { exitCode: 137 } : undefined));
    conn.exec = new Proxy(conn.exec, {
      apply: (f, self, args: [string | string[], object]) => (args[0] === "true" || (Array.isArray(args[0]) && args[0].join(" ") === "true") ? Promise.reject(new Error("(HTTP code 409) container stopped/paused - Container abc is not running")) : Reflect.apply(f, self, args)),
    });
    let err: unknown;
    try {
      await runStep(conn, "dpkg -i /var/cache/patchlab/x.deb", { timeoutMs: 10_000 });
    } catch (e) {
      err = e;
    }
    expect(err).to.be.instanceOf(LabError);
    expect((err as LabError).kind).to.equal("machine-killed");
    expect((err as LabError).machine).to.equal("web");
    expect((err as LabError).message).to.match(/exited 137 on web, and web no longer runs commands .*not running/);
  });

  it("a step that failed on a machine that still runs commands is the step's own failure", async () => {
    const conn = new FakeConn((cmd) => (cmd.includes("dpkg") ? { exitCode: 1, stderr: "dpkg: error processing" } : undefined));
    const r = await runStep(conn, "dpkg -i /var/cache/patchlab/x.deb", { timeoutMs: 10_000 });
    expect(r).to.include({ exitCode: 1, timedOut: false });
    expect(conn.commands.at(-1)).to.equal("true");
  });

  it("a step that succeeded asks nothing more of the machine", async () => {
    const conn = new FakeConn();
    await runStep(conn, "dpkg -i /var/cache/patchlab/x.deb", { timeoutMs: 10_000 });
    expect(conn.commands).to.have.length(1);
  });
});
