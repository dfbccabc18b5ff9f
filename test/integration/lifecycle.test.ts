// The lifecycle building blocks on a real lab machine (the reference lab's web: Debian, real
// nginx), each caught by the right check with a package built here by dpkg-deb, and good
// patches passing every check. The machine is snapshotted first and restored after each test.
import { expect } from "chai";
import fs from "node:fs";
import path from "node:path";
import type { Lab } from "../../harness/config/schemas.ts";
import { loadLab, loadPatch } from "../../harness/config/loader.ts";
import { LabError } from "../../harness/core/errors.ts";
import { DockerDriver } from "../../harness/lab/drivers/docker-driver.ts";
import { docker as guarded } from "../../harness/lab/drivers/docker-engine.ts";
import { machineState, volatileFor, type MachineState } from "../../harness/lab/state.ts";
import type { Connection, MachineHandle, SnapshotRef } from "../../harness/lab/types.ts";
import { DebProvisioner, prepareDeb } from "../../harness/patch/deb.ts";
import { FilesProvisioner, prepareFiles } from "../../harness/patch/files.ts";
import { idempotenceCheck } from "../../harness/patch/idempotence.ts";
import { installCheck, uninstallCheck } from "../../harness/patch/install-check.ts";
import { residueCheck, rollbackCheck } from "../../harness/patch/residue.ts";
import { applyRestart, decideRestart, labHealthyExcept, scanRestart } from "../../harness/patch/restart-detect.ts";
import { prepareScript, ScriptProvisioner } from "../../harness/patch/script.ts";
import { bisect, type Verdict } from "../../harness/run/bisect.ts";
import type { PatchArtifact } from "../../harness/patch/types.ts";
import { buildDeb, cli, tmpDir, type DebSpec } from "./support.ts";

describe("patch lifecycle checks on a real machine (reference lab, web)", function () {
  this.timeout(600_000);
  const dir = tmpDir("lifecycle");
  let lab: Lab;
  let driver: DockerDriver;
  let web: MachineHandle;
  let snap: SnapshotRef;
  let conn: Connection;
  let pristine: MachineState;
  const state = () => machineState(conn, { volatile: volatileFor(web) });
  const t0 = Date.now();

  before(async function () {
    const up = await cli(["lab", "up"]);
    expect(up.code, up.stderr + up.stdout).to.equal(0);
    ({ lab } = await loadLab("reference"));
    driver = new DockerDriver(guarded());
    web = driver.handlesFor(lab).find((m) => m.spec.name === "web")!;
    snap = await driver.snapshot(web, `lifecycle-test-${process.pid}`);
    conn = driver.connect(web);
    const t = Date.now();
    pristine = await state();
    console.log(`      state of web: ${Object.keys(pristine.files).length} files, ${Object.keys(pristine.packages).length} packages in ${Date.now() - t} ms`);
  });

  afterEach(async function () {
    await driver.restore(web, snap, Date.now() + 120_000);
  });

  after(async function () {
    if (!snap) return;
    // The rollback check of the whole file: restoring the snapshot gives the pristine state.
    const restored = await state();
    const r = rollbackCheck(pristine, restored, { machine: "web" });
    await driver.deleteSnapshot(snap);
    fs.rmSync(dir, { recursive: true, force: true });
    console.log(`      lifecycle file: ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    expect(r.status, r.attachments[0]?.content).to.equal("passed");
  });

  /** A deb patch manifest next to its .deb, loaded through the real loader, prepared for shipping. */
  async function debPatch(spec: DebSpec, manifest: Record<string, string> = {}): Promise<PatchArtifact> {
    const sub = fs.mkdtempSync(path.join(dir, `${spec.name}-`));
    const deb = buildDeb(sub, spec);
    const file = path.join(sub, "patch.yaml");
    const extra = Object.entries(manifest).map(([k, v]) => `${k}: ${v}`);
    fs.writeFileSync(file, [`id: PL-${spec.name}`, `title: fixture ${spec.name}`, "severity: moderate", "kind: deb", `deb: { file: ${path.basename(deb)} }`, "appliesTo: { roles: [web] }", ...extra, ""].join("\n"));
    const { patch } = await loadPatch(file);
    return prepareDeb(patch, file, path.join(sub, "work"));
  }

  const machine = () => ({
    state: { volatile: volatileFor(web) },
    ready: (deadline: number) => conn.waitUntilReady(deadline),
    deadline: Date.now() + 20_000,
    labHealthy: () => labHealthyExcept(driver, lab, "web"),
  });

  it("a good .deb passes every check: install (detected, services ready, disk used), idempotence, uninstall, no residue", async () => {
    const a = await debPatch({
      name: "pl-good",
      version: "1.0",
      files: { "etc/pl-good/good.conf": "setting = 1\n", "usr/share/pl-good/README": "fixture\n" },
      postinst: "#!/bin/sh\nset -e\n[ \"$1\" = configure ] && echo configured\nexit 0\n",
    });
    const p = new DebProvisioner({ workDir: path.join(dir, "backups") });
    const before = await state();
    const inst = await installCheck(conn, p, a, { before, ...machine() });
    expect(inst.status, inst.message).to.equal("passed");
    expect(inst).to.deep.include({ exitCode: 0, detected: true });
    // The payload plus dpkg's records of it (file list, checksums, maintainer script).
    expect(inst.diskUsedBytes).to.be.above("setting = 1\n".length + "fixture\n".length);
    expect(inst.diskUsedBytes).to.be.below(2000);
    expect(inst.attachments.map((x) => x.name)).to.deep.equal(["install output (PL-pl-good on web)", "state changes of install (PL-pl-good on web)"]);
    expect(inst.attachments[0]!.content).to.match(/Setting up pl-good \(1\.0\)[\s\S]*configured/);
    expect(inst.attachments[1]!.content).to.include("+/etc/pl-good/good.conf  f 0644 root:root 12 sha256:");
    const idem = await idempotenceCheck(conn, p, a, { afterInstall: inst.after! });
    expect(idem.status, idem.message + idem.attachments.map((x) => x.content).join("\n")).to.equal("passed");
    const un = await uninstallCheck(conn, p, a, { ...machine() });
    expect(un.status, un.message).to.equal("passed");
    expect(un.detected).to.equal(false);
    const res = residueCheck(before, un.after!, { patch: a.patch.id, machine: "web" });
    expect(res.status, res.attachments[0]?.content).to.equal("passed");
  });

  it("a postinst that fails: install failed, with dpkg's exit code and output", async () => {
    const a = await debPatch({ name: "pl-postinst-fails", version: "1.0", postinst: "#!/bin/sh\necho 'cannot configure: no frobnicator' >&2\nexit 3\n" });
    const r = await installCheck(conn, new DebProvisioner(), a, machine());
    expect(r.status).to.equal("failed");
    expect(r.exitCode).to.equal(1);
    expect(r.message).to.match(/dpkg -i pl-postinst-fails 1\.0 exited 1/);
    expect(r.attachments[0]!.content).to.include("cannot configure: no frobnicator");
  });

  it("an install that succeeds but leaves a service stopped: install failed, the service named (the lab is healthy)", async () => {
    const a = await debPatch({ name: "pl-stops-nginx", version: "1.0", postinst: "#!/bin/sh\n/etc/init.d/nginx stop >/dev/null\nexit 0\n" });
    const r = await installCheck(conn, new DebProvisioner(), a, { ...machine(), deadline: Date.now() + 5_000 });
    expect(r.status, r.message).to.equal("failed");
    expect(r.stoppedServices).to.deep.equal(["nginx"]);
    expect(r.message).to.match(/service\(s\) nginx ran before the install and do not after it; not ready after the install/);
  });

  it("an uninstall that fails: uninstall failed", async () => {
    const a = await debPatch({ name: "pl-postrm-fails", version: "1.0", files: { "usr/share/pl-postrm-fails/x": "x\n" }, postrm: "#!/bin/sh\n[ \"$1\" = remove ] && { echo 'refusing to be removed' >&2; exit 1; }\nexit 0\n" });
    const p = new DebProvisioner();
    expect((await installCheck(conn, p, a)).status).to.equal("passed");
    const r = await uninstallCheck(conn, p, a, machine());
    expect(r.status).to.equal("failed");
    expect(r.message).to.match(/dpkg --purge pl-postrm-fails exited 1/);
    expect(r.attachments[0]!.content).to.include("refusing to be removed");
  });

  it("an uninstall that leaves a file under /etc behind: residue, shown as a diff", async () => {
    const a = await debPatch({ name: "pl-leaves-etc", version: "1.0", files: { "usr/share/pl-leaves-etc/x": "x\n" }, postinst: "#!/bin/sh\necho generated > /etc/pl-leaves-etc.conf\nexit 0\n" });
    const p = new DebProvisioner();
    const before = await state();
    expect((await installCheck(conn, p, a, { before })).status).to.equal("passed");
    const un = await uninstallCheck(conn, p, a);
    expect(un.status, un.message).to.equal("passed");
    const res = residueCheck(before, un.after!, { patch: a.patch.id, machine: "web" });
    expect(res.status).to.equal("failed");
    expect(res.message).to.match(/residue: uninstalling PL-pl-leaves-etc left 1 difference\(s\).*file \/etc\/pl-leaves-etc\.conf: added/);
    expect(res.attachments[0]!.content).to.match(/^--- before install\n\+\+\+ after uninstall\n@@ files @@\n\+\/etc\/pl-leaves-etc\.conf  f 0644 root:root 10 sha256:[0-9a-f]{64}\n$/);
  });

  it("a postinst that bumps a counter each run is not idempotent: the diff names the state file", async () => {
    const a = await debPatch({ name: "pl-counter", version: "1.0", postinst: "#!/bin/sh\nmkdir -p /var/lib/pl-counter\nn=$(cat /var/lib/pl-counter/runs 2>/dev/null || echo 0)\necho $((n+1)) > /var/lib/pl-counter/runs\nexit 0\n" });
    const p = new DebProvisioner();
    const inst = await installCheck(conn, p, a);
    expect(inst.status).to.equal("passed");
    const r = await idempotenceCheck(conn, p, a, { afterInstall: inst.after! });
    expect(r.status).to.equal("failed");
    expect(r.message).to.match(/^not idempotent: applying PL-pl-counter again changed the machine \(1 change\(s\)\): file \/var\/lib\/pl-counter\/runs: changed/);
    const diff = r.attachments.find((x) => x.name.startsWith("idempotence diff"))!.content;
    expect(diff).to.match(/-\/var\/lib\/pl-counter\/runs  f 0644 root:root 2 sha256:.*\n\+\/var\/lib\/pl-counter\/runs  f 0644 root:root 2 sha256:/);
    // Policy "warn": shown, not rejecting.
    const warn = await idempotenceCheck(conn, p, a, { policy: "warn" });
    expect(warn.status).to.equal("passed");
    expect(warn.message).to.match(/^warning \(policy: warn\)/);
  });

  it("a postinst that hangs is killed at the step timeout: 'install timed out', nothing left running", async () => {
    const a = await debPatch({ name: "pl-hangs", version: "1.0", postinst: "#!/bin/sh\nsleep 3600\n" });
    const t = Date.now();
    const r = await installCheck(conn, new DebProvisioner({ stepTimeoutMs: 5_000 }), a);
    expect(r.status).to.equal("failed");
    expect(r.timedOut).to.equal(true);
    expect(r.message).to.match(/^install timed out: dpkg -i pl-hangs 1\.0 was still running after 5 s and was killed/);
    expect(Date.now() - t).to.be.below(30_000);
    const ps = await conn.exec(["sh", "-c", "ps -eo args | grep -E '^(sleep 3600|dpkg)' || true"]);
    expect(ps.stdout.trim(), "the installer's processes are gone").to.equal("");
  });

  it("a dependency the machine lacks is 'needs review' naming the package, and the machine is untouched", async () => {
    const a = await debPatch({ name: "pl-needs-dep", version: "1.0", depends: "libpatchlab-missing1 (>= 2.0), nginx", files: { "etc/pl-needs-dep.conf": "x\n" } });
    const before = await state();
    const r = await installCheck(conn, new DebProvisioner(), a, { before });
    expect(r.status).to.equal("broken");
    expect(r.outcome?.missing).to.deep.equal(["libpatchlab-missing1 (>= 2.0)"]);
    expect(r.message).to.match(/^needs review: pl-needs-dep 1\.0 depends on libpatchlab-missing1 \(>= 2\.0\), which web does not have/);
    expect(residueCheck(before, await state(), { patch: a.patch.id, machine: "web" }).status).to.equal("passed");
  });

  describe("an update of a library a running daemon maps, declaring no restart", () => {
    /** The library package of a .so nginx really maps, found at run time (smallest package first). */
    async function mappedLibrary(): Promise<{ pkg: string; version: string; arch: string; multiArch: string; depends: string; files: Record<string, Buffer>; links: Record<string, string>; lib: string }> {
      const pid = (await conn.exec(["cat", "/run/nginx.pid"])).stdout.trim();
      const out = await conn.exec([
        "sh",
        "-c",
        `for f in $(grep -oE '/[^ ]+\\.so[^ ]*' /proc/${pid}/maps | sort -u); do p=$(dpkg-query -S "$f" 2>/dev/null | head -n1 | cut -d: -f1) && [ -n "$p" ] && [ "$p" != libc6 ] && echo "$(dpkg-query -L $p | wc -l) $p $f"; done | sort -n | head -n1`,
      ]);
      const [, pkg, lib] = out.stdout.trim().split(" ");
      expect(pkg, `a library package nginx maps: ${out.stdout}${out.stderr}`).to.be.a("string");
      const meta = (await conn.exec(["dpkg-query", "-W", "-f=${Version}|${Architecture}|${Multi-Arch}|${Depends}", pkg!])).stdout.split("|");
      const list = await conn.exec(["sh", "-c", `dpkg-query -L ${pkg} | grep -v '^/usr/share/doc' | while read -r f; do if [ -L "$f" ]; then echo "L $f $(readlink "$f")"; elif [ -f "$f" ]; then echo "F $f"; fi; done`]);
      const files: Record<string, Buffer> = {};
      const links: Record<string, string> = {};
      for (const line of list.stdout.trim().split("\n")) {
        const [kind, f, target] = line.split(" ");
        if (kind === "F") files[f!.slice(1)] = await conn.download(f!);
        if (kind === "L") links[f!.slice(1)] = target!;
      }
      return { pkg: pkg!, version: meta[0]!, arch: meta[1]!, multiArch: meta[2]!, depends: meta[3]!, files, links, lib: lib! };
    }

    it("restart detection finds the stale daemon: 'restart needed but not declared', the service restarted and ready; uninstall downgrades to exactly the pre-patch version, no residue", async () => {
      const lib = await mappedLibrary();
      const a = await debPatch({ name: lib.pkg, version: `${lib.version}+pl1`, architecture: lib.arch, multiArch: lib.multiArch || undefined, depends: lib.depends || undefined, files: lib.files, links: lib.links });
      const p = new DebProvisioner({ workDir: path.join(dir, "backups") });
      const beforeScan = await scanRestart(conn);
      const before = await state();
      const inst = await installCheck(conn, p, a, { before, ...machine() });
      expect(inst.status, inst.message).to.equal("passed");
      expect(inst.backupBytes, "the pre-patch version is kept").to.be.above(1000);
      // Disk used: what the files grew or shrank by (the update drops the docs) plus the kept backup.
      expect(inst.diskUsedBytes).to.equal(inst.diskDeltaBytes! + inst.backupBytes!);
      expect(inst.message).to.include(`(upgraded from ${lib.version}); uninstall backup ${lib.version} kept`);

      const scan = await scanRestart(conn);
      const d = decideRestart(scan, { declared: a.patch.restart, before: beforeScan, artifacts: [a] });
      expect(d).to.deep.include({ needed: "services", services: ["nginx"], undeclared: true, causedBy: [a.patch.id] });
      expect(d.reasons[0]).to.match(new RegExp(`^service nginx \\(pid [0-9, ]+ nginx\\) still runs replaced .*\\(from ${lib.pkg}\\)$`));
      const oldPid = (await conn.exec(["cat", "/run/nginx.pid"])).stdout.trim();
      const r = await applyRestart(conn, d, { restartMachine: (dl) => conn.restart(dl), ready: (dl) => conn.waitUntilReady(dl), labHealthy: () => labHealthyExcept(driver, lab, "web") }, { deadline: Date.now() + 60_000 });
      expect(r.status, r.message).to.equal("passed");
      expect((await conn.exec(["cat", "/run/nginx.pid"])).stdout.trim()).to.not.equal(oldPid);
      expect((await scanRestart(conn)).stale).to.deep.equal([]);

      const un = await uninstallCheck(conn, p, a, machine());
      expect(un.status, un.message).to.equal("passed");
      expect(un.message).to.include(`downgraded ${lib.version}+pl1 -> ${lib.version}`);
      const v = await conn.exec(["dpkg-query", "-W", "-f=${Version}", lib.pkg]);
      expect(v.stdout).to.equal(lib.version);
      const res = residueCheck(before, un.after!, { patch: a.patch.id, machine: "web" });
      expect(res.status, res.attachments[0]?.content).to.equal("passed");
    });

    it("without an uninstall backup, the upgrade's uninstall is a clear 'not possible: no backup' (needs review)", async () => {
      const lib = await mappedLibrary();
      const a = await debPatch({ name: lib.pkg, version: `${lib.version}+pl2`, architecture: lib.arch, multiArch: lib.multiArch || undefined, depends: lib.depends || undefined, files: lib.files, links: lib.links }, { options: "{ uninstallBackup: false }" });
      const p = new DebProvisioner({ workDir: path.join(dir, "backups") });
      const inst = await installCheck(conn, p, a);
      expect(inst.status, inst.message).to.equal("passed");
      expect(inst.backupBytes).to.equal(undefined);
      const un = await uninstallCheck(conn, p, a);
      expect(un.status).to.equal("broken");
      expect(un.message).to.match(/^not possible: no backup: .* upgraded .* no uninstall backup was kept \(uninstallBackup: false\); needs review$/);
    });
  });

  it("a script patch (vendor installer with payload, quiet flag, detect command) passes every check", async () => {
    const sub = fs.mkdtempSync(path.join(dir, "script-"));
    fs.writeFileSync(
      path.join(sub, "install.sh"),
      [
        "#!/bin/sh",
        'case "$1" in',
        '  install) [ "$2" = --quiet ] || { echo "would prompt: not unattended" >&2; exit 9; }',
        "    mkdir -p /opt/acme/bin /etc/acme && cp ./acme-tool /opt/acme/bin/ && echo 'level=2' > /etc/acme/hotfix.conf && echo installed ;;",
        "  remove) rm -rf /opt/acme /etc/acme && echo removed ;;",
        "esac",
        "",
      ].join("\n"),
      { mode: 0o755 },
    );
    fs.writeFileSync(path.join(sub, "acme-tool"), "#!/bin/sh\necho acme\n", { mode: 0o755 });
    const file = path.join(sub, "patch.yaml");
    fs.writeFileSync(
      file,
      [
        "id: ACME-HF-7",
        "title: acme hotfix 7",
        "severity: important",
        "kind: script",
        "appliesTo: { roles: [web] }",
        "script:",
        '  version: "7.0"',
        "  payload: [install.sh, acme-tool]",
        "  install: ./install.sh install",
        "  uninstall: ./install.sh remove",
        "  detect: test -x /opt/acme/bin/acme-tool && grep -q level=2 /etc/acme/hotfix.conf",
        "  flags: { quiet: --quiet, noRestart: --norestart }",
        "",
      ].join("\n"),
    );
    const a = prepareScript((await loadPatch(file)).patch, file);
    const p = new ScriptProvisioner();
    const before = await state();
    expect(await p.isInstalled(conn, a)).to.equal(false);
    const inst = await installCheck(conn, p, a, { before, ...machine() });
    expect(inst.status, inst.message).to.equal("passed");
    expect(inst.attachments[0]!.content).to.equal("installed");
    // `patchlab installed` asks the same detection, through the real CLI.
    const listed = await cli(["installed", "-m", "web", "--patch", file]);
    expect(listed.code, listed.stderr).to.equal(0);
    expect(listed.stdout).to.match(/^web \(lab reference\): 1 of 1 patch\(es\) installed/);
    expect(listed.stdout).to.match(/installed +ACME-HF-7 +script script 7\.0/);
    expect(inst.attachments[1]!.content).to.include("+/opt/acme/bin/acme-tool  f 0755 root:root");
    expect((await idempotenceCheck(conn, p, a, { afterInstall: inst.after! })).status).to.equal("passed");
    const un = await uninstallCheck(conn, p, a, machine());
    expect(un.status, un.message).to.equal("passed");
    expect(residueCheck(before, un.after!, { patch: a.patch.id, machine: "web" }).status).to.equal("passed");
    const after = await cli(["installed", "-m", "web", "--patch", file, "--json"]);
    expect(JSON.parse(after.stdout).rows.map((r: { status: string }) => r.status)).to.deep.equal(["not installed"]);
    // Nothing of the payload stays on the machine.
    expect((await conn.exec(["ls", "/var/cache/patchlab/ACME-HF-7"])).exitCode).to.not.equal(0);
  });

  it("a files patch replaces the nginx binary nginx runs: originals kept and put back; restart detection sees the replaced executable", async () => {
    const sub = fs.mkdtempSync(path.join(dir, "files-"));
    fs.writeFileSync(path.join(sub, "nginx"), await conn.download("/usr/sbin/nginx"), { mode: 0o755 });
    fs.writeFileSync(path.join(sub, "index.html"), "<html><body>patchlab-web-ok (files patch)</body></html>\n");
    const file = path.join(sub, "patch.yaml");
    fs.writeFileSync(
      file,
      [
        "id: PL-FILES-1",
        "title: replace nginx binary and the default page",
        "severity: low",
        "kind: files",
        "appliesTo: { roles: [web] }",
        "files:",
        '  version: "1"',
        "  replace:",
        "    - { source: nginx, target: /usr/sbin/nginx }",
        "    - { source: index.html, target: /var/www/patchlab/index.html }",
        "    - { source: index.html, target: /var/www/patchlab/new/page.html, mode: '0640', owner: www-data }",
        "",
      ].join("\n"),
    );
    const a = prepareFiles((await loadPatch(file)).patch, file);
    const p = new FilesProvisioner();
    const before = await state();
    const inst = await installCheck(conn, p, a, { before, ...machine() });
    expect(inst.status, inst.message).to.equal("passed");
    expect(inst.backupBytes).to.be.above(500_000);
    const page = await conn.exec(["stat", "-c", "%a %U", "/var/www/patchlab/new/page.html"]);
    expect(page.stdout.trim()).to.equal("640 www-data");
    const d = decideRestart(await scanRestart(conn), { declared: "none", artifacts: [a] });
    expect(d).to.deep.include({ needed: "services", services: ["nginx"], undeclared: true, causedBy: ["PL-FILES-1"] });
    expect((await idempotenceCheck(conn, p, a, { afterInstall: inst.after! })).status).to.equal("passed");
    const un = await uninstallCheck(conn, p, a, machine());
    expect(un.status, un.message).to.equal("passed");
    const res = residueCheck(before, un.after!, { patch: a.patch.id, machine: "web" });
    expect(res.status, res.attachments[0]?.content).to.equal("passed");
  });

  it("a files patch without an uninstall backup cannot be uninstalled: 'not possible: no backup'", async () => {
    const sub = fs.mkdtempSync(path.join(dir, "files-nb-"));
    fs.writeFileSync(path.join(sub, "index.html"), "<html>patchlab-web-ok</html>\n");
    const file = path.join(sub, "patch.yaml");
    fs.writeFileSync(file, ["id: PL-FILES-2", "title: page", "severity: low", "kind: files", "appliesTo: { roles: [web] }", "options: { uninstallBackup: false }", "files:", '  version: "1"', "  replace: [{ source: index.html, target: /var/www/patchlab/index.html }]", ""].join("\n"));
    const a = prepareFiles((await loadPatch(file)).patch, file);
    const p = new FilesProvisioner();
    expect((await installCheck(conn, p, a)).status).to.equal("passed");
    const un = await uninstallCheck(conn, p, a);
    expect(un.status).to.equal("broken");
    expect(un.message).to.match(/^not possible: no backup/);
  });

  it("blame by bisection on the real machine: two patches that each pass alone and break nginx together are named as the pair", async () => {
    // Each declares a rate-limit zone of the same name with another size: fine alone, nginx refuses both.
    const zone = (name: string, size: string) => debPatch({ name, version: "1.0", files: { [`etc/nginx/conf.d/${name}.conf`]: `limit_req_zone $binary_remote_addr zone=plshared:${size} rate=10r/s;\n` } });
    const harmless = (name: string) => debPatch({ name, version: "1.0", files: { [`usr/share/${name}/README`]: `${name}\n` } });
    const all = [await harmless("pl-bis-1"), await zone("pl-bis-zone-a", "1m"), await harmless("pl-bis-2"), await zone("pl-bis-zone-b", "2m")];
    const byId = new Map(all.map((a) => [a.patch.id, a]));
    const ids = all.map((a) => a.patch.id);
    let evaluations = 0;
    /** Install the subset on the restored machine, restart nginx, and ask whether web serves. */
    const evaluate = async (subset: string[]): Promise<Verdict> => {
      evaluations++;
      await driver.restore(web, snap, Date.now() + 120_000);
      const p = new DebProvisioner();
      for (const id of subset) {
        const r = await p.install(conn, byId.get(id)!);
        if (!r.ok) return r.blame === "harness" ? "broken" : "fail";
      }
      const restart = await conn.exec(["/etc/init.d/nginx", "restart"]);
      if (restart.exitCode !== 0) return "fail";
      return conn.waitUntilReady(Date.now() + 15_000).then(
        () => "pass" as const,
        (e: unknown) => (e instanceof LabError && e.kind === "readiness-timeout" ? ("fail" as const) : ("broken" as const)),
      );
    };
    const t = Date.now();
    const singles: Verdict[] = [];
    for (const id of ids) singles.push(await evaluate([id]));
    expect(singles, "each passes alone").to.deep.equal(["pass", "pass", "pass", "pass"]);
    expect(await evaluate(ids), "the aggregate fails").to.equal("fail");
    const before = evaluations;
    const r = await bisect(ids, evaluate, { knownPass: ids.map((id) => [id]), knownFail: [ids] });
    console.log(`      bisection: ${r.evaluations} evaluations (${evaluations - before} real), ${((Date.now() - t) / 1000).toFixed(1)} s in all`);
    expect(r.culprits).to.deep.equal([["PL-pl-bis-zone-a", "PL-pl-bis-zone-b"]]);
    expect(r.message).to.equal("PL-pl-bis-zone-a and PL-pl-bis-zone-b break it together (each passes without the other)");
  });
});
