// The apt provisioner against a fake machine (a dpkg database and an apt-get that obeys or
// fails as scripted): exact versions installed, the downgrade returns exactly to the previous
// versions and removes what the update pulled in, and each failure is blamed on the right side.
import { expect } from "chai";
import type { MachinePlan } from "../../../harness/catalog/resolve.ts";
import type { Connection, ExecOptions, ExecResult, FileToUpload } from "../../../harness/lab/types.ts";
import { AptProvisioner, LAB_KEYRING, planKey, prepareApt } from "../../../harness/patch/apt.ts";
import type { PatchArtifact } from "../../../harness/patch/types.ts";
import { universeOf } from "../../../harness/catalog/universe.ts";
import { aptPatch } from "../inventory/helpers.ts";
import { LabError } from "../../../harness/core/errors.ts";

type Script = (args: string[], db: Map<string, string>) => { exitCode: number; out: string };

class FakeMachine implements Connection {
  readonly machine = "web";
  readonly commands: string[][] = [];
  readonly uploads: FileToUpload[] = [];
  constructor(readonly db: Map<string, string>, private readonly apt: Script) {}
  dead = false;
  async exec(cmd: string | string[], _o?: ExecOptions): Promise<ExecResult> {
    let args = typeof cmd === "string" ? ["sh", "-c", cmd] : cmd;
    if (this.dead) throw new Error("container web is not running");
    // An installer step runs under the machine's own `timeout`: the fake runs what it wraps.
    const step = args[0] === "sh" ? /timeout --verbose \S+ \d+s sh -c '(.*)' <\/dev\/null$/s.exec(args[2] ?? "") : null;
    if (step) args = shellWords(step[1]!.replace(/'\\''/g, "'"));
    this.commands.push(args);
    const ok = (stdout: string, exitCode = 0) => ({ exitCode, stdout, stderr: "", durationMs: 1 });
    if (args[0] === "true") return ok("");
    if (args[0] === "df") return ok("Filesystem Size Used Avail Use% Mounted on\noverlay 10G 10G 0 100% /");
    if (args[0] === "dpkg-query") return ok([...this.db].map(([n, v]) => `${n}\t${v}\tamd64\tii \t${n}\n`).join(""));
    if (args[0] === "sh") return ok("Reading package lists...\n");
    if (args[0] === "apt-get") {
      const r = this.apt(args, this.db);
      return ok(r.out, r.exitCode);
    }
    throw new Error(`unexpected command ${args.join(" ")}`);
  }
  async upload(files: FileToUpload[]) { this.uploads.push(...files); }
  async download(): Promise<Buffer> { return Buffer.alloc(0); }
  async restart() {}
  async waitUntilReady() {}
}

/** The words of a command line made of shq()-quoted words. */
function shellWords(line: string): string[] {
  return [...line.matchAll(/'((?:[^']|'\\'')*)'|(\S+)/g)].map((m) => (m[1] ?? m[2]!).replace(/'\\''/g, "'"));
}

/** apt-get that applies name=version, name- exactly (and pulls in a new dependency on upgrade). */
const obedient: Script = (args, db) => {
  for (const a of args.slice(args.indexOf("install") + 1)) {
    if (a.endsWith("-")) db.delete(a.slice(0, -1));
    else {
      const [n, v] = a.split("=");
      db.set(n!, v!);
      if (n === "nginx" && v === "2") db.set("libnew1", "1.0");
    }
  }
  return { exitCode: 0, out: "Setting up nginx ...\n" };
};

const st = (pkg: string, version: string) => ({ Package: pkg, Version: version, Architecture: "amd64", Filename: `pool/${pkg}_${version}.deb`, SHA256: "a".repeat(64), Size: "1" });
const universe = universeOf([{ suite: "bookworm-security", mirror: "http://m", sha256: "x", byName: new Map([["nginx", [st("nginx", "2")]], ["nginx-common", [st("nginx-common", "2")]]]) }]);

function artifact(): PatchArtifact {
  const p = aptPatch("DEB-nginx-2", "nginx", "2", ["nginx", "nginx-common"]);
  for (const x of p.apt.packages) x.sha256 = "a".repeat(64);
  return prepareApt(p, "/m.yaml", universe);
}

function provisioner(plan: Partial<MachinePlan> = {}) {
  const full: MachinePlan = { machine: "web", install: [{ name: "nginx", version: "2" }, { name: "nginx-common", version: "2" }], publish: [], missing: [], noRollback: [], ...plan };
  return new AptProvisioner({ serverIp: "172.30.77.99", keyring: Buffer.from("key"), plans: new Map([[planKey("web", "DEB-nginx-2"), full]]) });
}

describe("patch: apt provisioner", () => {
  it("installs the exact versions from the update server only, then downgrades exactly and removes what the update pulled in", async () => {
    const m = new FakeMachine(new Map([["nginx", "1"], ["nginx-common", "1"], ["bash", "5"]]), obedient);
    const pr = provisioner();
    const a = artifact();
    expect(await pr.isInstalled(m, a)).to.equal(false);
    const r = await pr.install(m, a);
    expect(r.ok, r.message).to.equal(true);
    const sources = m.uploads.find((u) => u.path === "/etc/apt/sources.list")!;
    expect(String(sources.content)).to.match(new RegExp(`^deb \\[signed-by=${LAB_KEYRING}\\] http://172\\.30\\.77\\.99/ lab main$`, "m"));
    expect(String(sources.content).match(/^deb /gm)!.length).to.equal(1);
    const install = m.commands.find((c) => c[0] === "apt-get")!;
    expect(install).to.include.members(["-y", "Dpkg::Options::=--force-confold", "install", "nginx=2", "nginx-common=2"]);
    expect(await pr.isInstalled(m, a)).to.equal(true);
    expect(m.db.get("libnew1")).to.equal("1.0");

    const u = await pr.uninstall(m, a);
    expect(u.ok, u.message).to.equal(true);
    const down = m.commands.filter((c) => c[0] === "apt-get").pop()!;
    expect(down).to.include.members(["--allow-downgrades", "--purge", "nginx=1", "nginx-common=1", "libnew1-"]);
    expect([...m.db]).to.deep.equal([["nginx", "1"], ["nginx-common", "1"], ["bash", "5"]]);
    expect(u.message).to.match(/removed libnew1/);
  });

  it("prepare points the sources at the update server once per verification, before install; each new verification points again", async () => {
    const m = new FakeMachine(new Map([["nginx", "1"], ["nginx-common", "1"]]), obedient);
    const pr = provisioner();
    const a = artifact();
    const pointings = () => m.uploads.filter((u) => u.path === "/etc/apt/sources.list").length;
    await pr.prepare(m, [a]);
    expect(pointings(), "prepare points the sources").to.equal(1);
    expect((await pr.install(m, a)).ok).to.equal(true);
    expect((await pr.install(m, a)).ok, "the idempotence check's second install").to.equal(true);
    expect(pointings(), "installs of the same verification do not point again").to.equal(1);
    expect((await pr.uninstall(m, a)).ok).to.equal(true);
    // After a restore the machine's sources are its own again: the next verification's prepare points them.
    await pr.prepare(m, [a]);
    expect(pointings()).to.equal(2);
    // Nothing of this machine's plan to install: nothing to point.
    const none = new AptProvisioner({ serverIp: "172.30.77.99", keyring: Buffer.from("key"), plans: new Map() });
    await none.prepare(m, [a]);
    expect(pointings()).to.equal(2);
  });

  it("combines updates into one apt-get transaction each way; not when a package is wanted at two versions or one cannot be installed", async () => {
    const u2 = universeOf([{ suite: "bookworm-security", mirror: "http://m", sha256: "x", byName: new Map([["nginx", [st("nginx", "2")]], ["nginx-common", [st("nginx-common", "2")]], ["libssl3", [st("libssl3", "3")]]]) }]);
    const mk = (id: string, src: string, v: string, pkgs: string[]) => {
      const p = aptPatch(id, src, v, pkgs);
      for (const x of p.apt.packages) x.sha256 = "a".repeat(64);
      return prepareApt(p, "/m.yaml", u2);
    };
    const a = mk("DEB-nginx-2", "nginx", "2", ["nginx", "nginx-common"]);
    const b = mk("DEB-openssl-3", "openssl", "3", ["libssl3"]);
    const plans = new Map<string, MachinePlan>([
      [planKey("web", a.patch.id), { machine: "web", install: [{ name: "nginx", version: "2" }, { name: "nginx-common", version: "2" }], publish: [], missing: [], noRollback: [] }],
      [planKey("web", b.patch.id), { machine: "web", install: [{ name: "libssl3", version: "3" }], publish: [], missing: [], noRollback: [] }],
    ]);
    const pr = new AptProvisioner({ serverIp: "172.30.77.99", keyring: Buffer.from("key"), plans });
    const m = new FakeMachine(new Map([["nginx", "1"], ["nginx-common", "1"], ["libssl3", "2"]]), obedient);
    const both = pr.combine(m, [a, b])!;
    expect(both.patch.id).to.equal("DEB-nginx-2+DEB-openssl-3");
    expect(both.members!.map((x) => x.patch.id)).to.deep.equal([a.patch.id, b.patch.id]);
    expect([...plans.keys()], "the caller's plans are left as they were").to.have.length(2);
    await pr.prepare(m, [a, b]);
    expect((await pr.install(m, both)).ok).to.equal(true);
    const installs = m.commands.filter((c) => c[0] === "apt-get");
    expect(installs, "one transaction").to.have.length(1);
    expect(installs[0]).to.include.members(["nginx=2", "nginx-common=2", "libssl3=3"]);
    expect(await pr.isInstalled(m, a)).to.equal(true);
    expect(await pr.isInstalled(m, b)).to.equal(true);
    expect((await pr.uninstall(m, both)).ok).to.equal(true);
    expect(m.commands.filter((c) => c[0] === "apt-get"), "one downgrade").to.have.length(2);
    expect([...m.db].sort()).to.deep.equal([["libssl3", "2"], ["nginx", "1"], ["nginx-common", "1"]]);

    expect(pr.combine(m, [a]), "one patch is not a transaction of several").to.equal(undefined);
    plans.set(planKey("web", b.patch.id), { machine: "web", install: [{ name: "nginx", version: "3" }], publish: [], missing: [], noRollback: [] });
    expect(pr.combine(m, [a, b]), "nginx wanted at 2 and 3").to.equal(undefined);
    plans.set(planKey("web", b.patch.id), { machine: "web", install: [{ name: "libssl3", version: "3" }], publish: [], missing: ["libfoo (>= 2)"], noRollback: [] });
    expect(pr.combine(m, [a, b]), "b cannot be installed here: each says why alone").to.equal(undefined);
  });

  it("an install without prepare points the sources itself; a failed pointing is the harness's (needs review) and is tried again", async () => {
    const m = new FakeMachine(new Map([["nginx", "1"], ["nginx-common", "1"]]), obedient);
    const pr = provisioner();
    const a = artifact();
    let updateFails = true;
    const exec = m.exec.bind(m);
    m.exec = async (cmd, o) => (updateFails && Array.isArray(cmd) && cmd[0] === "sh" && /apt-get -q .* update/.test(cmd[2] ?? "") ? { exitCode: 100, stdout: "", stderr: "E: Failed to fetch http://172.30.77.99/", durationMs: 1 } : exec(cmd, o));
    await pr.prepare(m, [a]);
    const r = await pr.install(m, a);
    expect(r.ok).to.equal(false);
    expect(r.blame).to.equal("harness");
    expect(r.message).to.match(/apt-get update from the lab update server 172\.30\.77\.99 failed/);
    updateFails = false;
    expect((await pr.install(m, a)).ok, "pointed on the next install").to.equal(true);
  });

  it("a dependency in neither the batch nor the update server: needs review (harness), naming it; nothing run", async () => {
    const m = new FakeMachine(new Map([["nginx", "1"]]), obedient);
    const r = await provisioner({ missing: ["libghost9 (>= 9) (needed by nginx 2)"] }).install(m, artifact());
    expect(r).to.deep.include({ ok: false, blame: "harness" });
    expect(r.message).to.match(/needs review: libghost9 \(>= 9\) \(needed by nginx 2\) is in neither the batch nor the lab update server/);
    expect(m.commands).to.deep.equal([]);
  });

  it("apt's resolver failing is the harness's (needs review); dpkg failing in a maintainer script is the patch's", async () => {
    const resolver = new FakeMachine(new Map([["nginx", "1"]]), () => ({ exitCode: 100, out: " nginx : Depends: nginx-common (= 2) but it is not installable\nE: Unable to correct problems, you have held broken packages." }));
    const r1 = await provisioner().install(resolver, artifact());
    expect(r1).to.deep.include({ ok: false, blame: "harness" });
    expect(r1.message).to.match(/needs review: .*unmet dependencies.*nginx-common/);
    const postinst = new FakeMachine(new Map([["nginx", "1"]]), () => ({ exitCode: 100, out: "dpkg: error processing package nginx (--configure):\n installed nginx package post-installation script subprocess returned error exit status 1\nE: Sub-process /usr/bin/dpkg returned an error code (1)" }));
    const r2 = await provisioner().install(postinst, artifact());
    expect(r2).to.deep.include({ ok: false, blame: "patch" });
  });

  it("an apt-get that exits 0 but leaves other versions is a failed install, and a downgrade that does not take is a failed uninstall", async () => {
    const liar = new FakeMachine(new Map([["nginx", "1"], ["nginx-common", "1"]]), () => ({ exitCode: 0, out: "" }));
    const r = await provisioner().install(liar, artifact());
    expect(r.ok).to.equal(false);
    expect(r.message).to.match(/nginx is 1, not 2/);

    let calls = 0;
    const stuck = new FakeMachine(new Map([["nginx", "1"], ["nginx-common", "1"]]), (args, db) => (calls++ === 0 ? obedient(args, db) : { exitCode: 0, out: "" }));
    const pr = provisioner();
    expect((await pr.install(stuck, artifact())).ok).to.equal(true);
    const u = await pr.uninstall(stuck, artifact());
    expect(u.ok).to.equal(false);
    expect(u.message).to.match(/nginx is 2, not 1/);
  });

  it("refuses to downgrade to a version no signed index has (needs review)", async () => {
    const m = new FakeMachine(new Map([["nginx", "1"], ["nginx-common", "1"]]), obedient);
    const pr = provisioner({ noRollback: ["nginx 1"] });
    expect((await pr.install(m, artifact())).ok).to.equal(true);
    const u = await pr.uninstall(m, artifact());
    expect(u).to.deep.include({ ok: false, blame: "harness" });
    expect(u.message).to.match(/cannot downgrade nginx 1/);
  });

  it("a full disk on the machine is the lab's error (disk-full, with the machine's df), never the patch's", async () => {
    const full = new FakeMachine(new Map([["nginx", "1"]]), () => ({ exitCode: 100, out: "Unpacking nginx (2) over (1) ...\ndpkg: error processing archive /var/cache/apt/archives/nginx_2_amd64.deb (--unpack):\n cannot copy extracted data for './usr/sbin/nginx' to '/usr/sbin/nginx.dpkg-new': failed to write (No space left on device)\nE: Sub-process /usr/bin/dpkg returned an error code (1)" }));
    const err = await provisioner().install(full, artifact()).then(() => undefined, (e: unknown) => e);
    expect(err).to.be.instanceOf(LabError);
    expect((err as LabError).kind).to.equal("disk-full");
    expect((err as LabError).message).to.match(/on web because a disk is full: .*No space left on device[\s\S]*100% \//);
  });

  it("apt-get failing on a machine that stopped under it is the lab's error (machine-killed), not the patch's", async () => {
    const m = new FakeMachine(new Map([["nginx", "1"]]), () => {
      m.dead = true;
      return { exitCode: 137, out: "Unpacking nginx (2) over (1) ..." };
    });
    const err = await provisioner().install(m, artifact()).then(() => undefined, (e: unknown) => e);
    expect(err).to.be.instanceOf(LabError);
    expect((err as LabError).kind).to.equal("machine-killed");
  });
});
