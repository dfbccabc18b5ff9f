import { expect } from "chai";
import { PatchError } from "../../../harness/core/errors.ts";
import { gatherScript } from "../../../harness/patch/backup.ts";
import { DebProvisioner, missingDependencies } from "../../../harness/patch/deb.ts";
import type { PatchArtifact } from "../../../harness/patch/types.ts";
import { FakeConn } from "./fake-conn.ts";

const artifact = (options?: Record<string, boolean>): PatchArtifact =>
  ({
    patch: { id: "PL-1", kind: "deb", restart: "none", ...(options ? { options } : {}) },
    manifestFile: "/x/patch.yaml",
    debFile: new URL(import.meta.url).pathname, // any readable file: it is only uploaded
    package: "libfoo1",
    version: "2.0-1+pl1",
    payload: [{ package: "libfoo1", version: "2.0-1+pl1" }],
  }) as unknown as PatchArtifact;

/** A machine with libfoo1 at `version` whose dpkg -i succeeds and updates it. */
function machine(version: string | undefined, o: { aptSim?: { exitCode: number; stdout: string } } = {}) {
  let installed = version;
  return new FakeConn((cmd) => {
    if (cmd.startsWith("dpkg-query -W -f=${db:Status-Abbrev}|${Version} libfoo1")) return installed ? { stdout: `ii |${installed}` } : { exitCode: 1 };
    if (cmd.startsWith("apt-get -s")) return o.aptSim ?? { exitCode: 0 };
    if (cmd.includes("exec timeout") && cmd.includes("dpkg --force-confold -i")) {
      installed = "2.0-1+pl1";
      return { exitCode: 0, stdout: "Setting up libfoo1" };
    }
    return undefined;
  });
}

describe("deb provisioner", () => {
  it("reads missing dependencies from apt's simulation and from dpkg's own complaint", () => {
    expect(missingDependencies(" pl-x : Depends: libbar2 (>= 2) but it is not installable\n          Depends: baz but it is not going to be installed\n")).to.deep.equal(["libbar2 (>= 2)", "baz"]);
    expect(missingDependencies(" pl-x : PreDepends: ok\n pl-y : Pre-Depends: dpkg (>= 1.22) but 1.21.22 is to be installed")).to.deep.equal(["dpkg (>= 1.22)"]);
    expect(missingDependencies("dpkg: dependency problems prevent configuration of pl-x:\n pl-x depends on libbar2 (>= 2); however:\n  Package libbar2 is not installed.\n")).to.deep.equal(["libbar2 (>= 2)"]);
    expect(missingDependencies("E: something else")).to.deep.equal([]);
  });

  it("a dependency the machine lacks: needs review naming it, and dpkg never runs", async () => {
    const conn = machine("2.0-1", { aptSim: { exitCode: 100, stdout: " libfoo1 : Depends: libbar2 (>= 2) but it is not installable" } });
    const r = await new DebProvisioner().install(conn, artifact());
    expect(r).to.deep.include({ ok: false, blame: "harness", missing: ["libbar2 (>= 2)"] });
    expect(r.message).to.match(/^needs review: libfoo1 2\.0-1\+pl1 depends on libbar2 \(>= 2\)/);
    expect(conn.steps()).to.deep.equal([]);
  });

  it("an upgrade without an uninstall backup installs, and its uninstall is 'not possible: no backup'", async () => {
    const conn = machine("2.0-1");
    const p = new DebProvisioner();
    const r = await p.install(conn, artifact({ uninstallBackup: false }));
    expect(r.ok, r.message).to.equal(true);
    expect(r.message).to.match(/upgraded from 2\.0-1\); no uninstall backup was kept \(uninstallBackup: false\)$/);
    const u = await p.uninstall(conn, artifact({ uninstallBackup: false }));
    expect(u).to.deep.include({ ok: false, blame: "harness" });
    expect(u.message).to.match(/^not possible: no backup: libfoo1 upgraded 2\.0-1 -> 2\.0-1\+pl1/);
  });

  it("a second install (idempotence) keeps what the machine had before the first", async () => {
    const conn = machine("2.0-1");
    const p = new DebProvisioner({ uninstallBackup: false });
    await p.install(conn, artifact());
    const again = await p.install(conn, artifact());
    expect(again.message).to.match(/upgraded from 2\.0-1\)/);
    expect((await p.uninstall(conn, artifact())).message).to.match(/upgraded 2\.0-1 -> /);
  });

  it("deferring the restart puts Debian's policy-rc.d in place for dpkg and removes it after", async () => {
    const conn = machine(undefined);
    await new DebProvisioner({ deferRestart: true }).install(conn, artifact());
    const i = conn.commands.findIndex((c) => c.includes("/usr/sbin/policy-rc.d") && c.includes("exit 101"));
    const d = conn.commands.findIndex((c) => c.includes("dpkg --force-confold -i"));
    const rm = conn.commands.indexOf("rm -f /usr/sbin/policy-rc.d");
    expect(i).to.be.above(-1);
    expect(d).to.be.above(i);
    expect(rm).to.be.above(d);
  });

  it("uninstall before install is a harness bug, said so", async () => {
    const e = await new DebProvisioner().uninstall(machine("1"), artifact()).catch((x) => x);
    expect(e).to.be.instanceOf(PatchError);
  });

  it("the backup gathers the package's files, its dpkg records and the database files dpkg-query needs", () => {
    const s = gatherScript("libfoo1", "/var/cache/patchlab/backup-libfoo1.tar");
    expect(s).to.include("dpkg-query --control-path 'libfoo1'");
    expect(s).to.include("/var/lib/dpkg/info/format");
    expect(s).to.include("--no-recursion --ignore-failed-read");
    expect(s).to.match(/for e in list conffiles/);
  });
});
