// Issue 7 acceptance on the reference lab with Debian's real, signed feed: the scan lists the
// real missing security updates (each newer in the signed index than what the machine has);
// a run installs one from the lab update server and a scan then finds it installed; a doctored
// InRelease, a tampered .deb and a manifest naming a package outside the update server are
// each refused with nothing installed or written; a plan with one patch of each severity and
// one not applicable gives the right phases, and `run --plan` runs exactly those.
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import http from "node:http";
import type { AddressInfo } from "node:net";
import path from "node:path";
import { expect } from "chai";
import YAML from "yaml";
import { cacheDir, sha256File } from "../../harness/catalog/cache.ts";
import { compareDebVersions } from "../../harness/catalog/debversion.ts";
import { loadUniverse } from "../../harness/catalog/universe.ts";
import { sourceOf } from "../../harness/catalog/deb822.ts";
import { ScanStore } from "../../harness/inventory/store.ts";
import type { ScanResult } from "../../harness/inventory/scan.ts";
import type { Plan } from "../../harness/plan/plan.ts";
import { JournalData } from "../../harness/run/journal.ts";
import { buildDeb, cli, readJson, runDirFrom, tmpDir } from "./support.ts";

const SEC = "http://deb.debian.org/debian-security";

/** The machine's own dpkg view, read independently of the harness. */
function installedOn(container: string): Map<string, string> {
  const out = execFileSync("docker", ["exec", container, "dpkg-query", "-W", "-f=${Package}\\t${Version}\\t${db:Status-Abbrev}\\n"], { encoding: "utf8" });
  return new Map(out.split("\n").map((l) => l.split("\t")).filter((x) => x[2]?.trim() === "ii").map((x) => [x[0]!, x[1]!]));
}

function fingerprintOf(machine: string): Promise<string> {
  return cli(["lab", "fingerprint", "-m", machine]).then((r) => {
    expect(r.code, r.stderr).to.equal(0);
    return r.stdout;
  });
}

/** Serve a copy of the real security archive's InRelease (edited or not) and tampered .debs on 127.0.0.1. */
async function doctoredMirror(opts: { editInRelease?: (t: string) => string; tamperDebs?: boolean }): Promise<{ url: string; close(): Promise<void> }> {
  const real = execFileSync("curl", ["-sS", "--max-time", "60", `${SEC}/dists/bookworm-security/InRelease`]);
  const inRelease = opts.editInRelease ? Buffer.from(opts.editInRelease(real.toString("utf8"))) : real;
  const server = http.createServer((req, res) => {
    const url = req.url ?? "/";
    if (url === "/dists/bookworm-security/InRelease") return void res.writeHead(200).end(inRelease);
    if (opts.tamperDebs && url.startsWith("/pool/") && url.endsWith(".deb")) return void res.writeHead(200).end(Buffer.from("not the package Debian signed"));
    res.writeHead(404).end();
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, close: () => new Promise<void>((r) => server.close(() => r())) };
}

const listFiles = (dir: string): string[] =>
  fs.existsSync(dir) ? fs.readdirSync(dir, { recursive: true, withFileTypes: true }).filter((e) => e.isFile()).map((e) => path.join(e.parentPath, e.name)).sort() : [];

describe("catalog, scan, update server and plan on the reference lab (real Debian feed)", function () {
  let dir: string;
  let env: Record<string, string>;
  let scan: ScanResult;
  let catalogDir: string;

  /** A missing update of web that as few other machines miss as possible (nginx when it is one): a short run. */
  const pickForWeb = (): string => {
    const onWeb = scan.machines.find((m) => m.machine === "web")!.results.filter((r) => r.status === "missing").map((r) => r.patch);
    const spread = (id: string) => scan.machines.filter((m) => m.results.some((r) => r.patch === id && r.status === "missing")).length;
    return onWeb.sort((a, b) => spread(a) - spread(b) || Number(!a.startsWith("DEB-nginx-")) - Number(!b.startsWith("DEB-nginx-")) || a.localeCompare(b))[0]!;
  };

  before(async function () {
    const up = await cli(["lab", "up"]);
    expect(up.code, up.stdout + up.stderr).to.equal(0);
    dir = tmpDir("catalog");
    catalogDir = path.join(dir, "catalog");
    env = { PATCHLAB_CATALOG_DIR: catalogDir, PATCHLAB_INVENTORY_DB: path.join(dir, "inventory.sqlite") };
    const t0 = Date.now();
    const imp = await cli(["catalog", "import", "debian", "--json"], { env });
    expect(imp.code, imp.stdout + imp.stderr).to.equal(0);
    console.log(`      catalog import: ${((Date.now() - t0) / 1000).toFixed(1)} s, ${JSON.parse(imp.stdout).entries.length} entries`);
    const s = await cli(["scan", "--json"], { env });
    expect(s.code, s.stdout + s.stderr).to.equal(0);
    scan = JSON.parse(s.stdout);
  });

  it("scan lists the real missing security updates: each newer in the signed index than the machine has, none left out", async function () {
    const universe = await loadUniverse({ suites: ["bookworm-security"] });
    const idx = universe.indexes[0]!;
    const manifests = new Map(listFiles(catalogDir).map((f) => { const p = YAML.parse(fs.readFileSync(f, "utf8")); return [p.id as string, p]; }));
    let missing = 0;
    for (const m of scan.machines) {
      const have = installedOn(`patchlab-reference-${m.machine}`);
      for (const r of m.results.filter((x) => x.status === "missing")) {
        missing++;
        const p = manifests.get(r.patch)!;
        const newer = (p.apt.packages as { name: string; version: string }[]).filter((b) => have.has(b.name) && idx.byName.get(b.name)?.some((s) => s["Version"] === b.version) && compareDebVersions(b.version, have.get(b.name)!) > 0);
        expect(newer.length, `${r.patch} listed missing on ${m.machine} without a newer signed version`).to.be.greaterThan(0);
      }
      // Completeness: every installed package the signed index has newer is covered by a missing entry.
      for (const [name, version] of have) {
        for (const s of idx.byName.get(name) ?? []) {
          if (!["amd64", "all"].includes(s["Architecture"]!) || compareDebVersions(s["Version"]!, version) <= 0) continue;
          const src = sourceOf(s);
          const id = [...manifests.values()].find((p) => p.apt.source === src.name && p.apt.version === src.version)?.id;
          expect(id, `${name} ${version} on ${m.machine} has ${s["Version"]} in the signed index but no catalog entry`).to.be.a("string");
          expect(m.results.find((x) => x.patch === id)?.status, `${id} on ${m.machine}`).to.equal("missing");
        }
      }
    }
    expect(missing, "no missing update found at all: the lab is newer than bookworm-security?").to.be.greaterThan(0);
    expect(scan.machines.map((m) => m.machine)).to.not.include("updates"); // infrastructure
    const hist = await cli(["scan", "history", "--json"], { env });
    expect(JSON.parse(hist.stdout).length).to.be.greaterThan(0);
  });

  it("run installs a missing update from the lab update server; a scan of the machine then finds it installed", async function () {
    const pick = pickForWeb();
    const batch = path.join(dir, "one.yaml");
    fs.writeFileSync(batch, `name: one-update\nlab: reference\npatches:\n  - ${path.join(catalogDir, "debian", "bookworm-security", `${pick}.yaml`)}\n`);
    const r = await cli(["run", batch], { env });
    const runDir = runDirFrom(r.stdout);
    const journal = JournalData.parse(readJson(path.join(runDir, "run.json")));
    const install = journal.steps.filter((s) => s.step === "install" && s.machine === "web");
    expect(install.map((s) => s.status), r.stdout).to.deep.equal(["passed"]);
    expect(install[0]!.message).to.match(/installed from the lab update server; a scan now finds it installed/);
    expect(journal.steps.filter((s) => s.step === "uninstall" && s.machine === "web").map((s) => s.status)).to.deep.equal(["passed"]);
    // The harness's own apt upkeep (the update server's key and sources, apt's marks) is never the patch's residue.
    const residue = journal.steps.find((s) => s.step === "residue" && s.machine === "web")!;
    expect(residue.message ?? "").to.not.match(/patchlab-lab-updates|\/etc\/apt\/sources\.list|extended_states/);
    // The scan taken on web right after the install no longer lists the update as missing.
    const store = new ScanStore(env.PATCHLAB_INVENTORY_DB);
    try {
      const after = store.scans("reference").filter((s) => s.context?.includes(`after installing ${pick}`) && s.startedAt >= journal.startedAt).pop()!;
      expect(after, "no scan stored after the install").to.not.equal(undefined);
      const webResults = store.results(after.id).get("web")!;
      expect(webResults.find((x) => x.patch === pick)!.status).to.equal("installed");
    } finally {
      store.close();
    }
    // And the run left web as it was: a fresh scan lists the update missing again.
    const again = await cli(["scan", "-m", "web", "--json"], { env });
    expect((JSON.parse(again.stdout) as ScanResult).machines[0]!.results.find((x) => x.patch === pick)!.status).to.equal("missing");
  });

  it("several updates on a machine go in as one apt-get transaction and out as one downgrade, each patch with its own record", async function () {
    const onWeb = scan.machines.find((m) => m.machine === "web")!.results.filter((r) => r.status === "missing").map((r) => r.patch);
    const spread = (id: string) => scan.machines.filter((m) => m.results.some((r) => r.patch === id && r.status === "missing")).length;
    const two = onWeb.sort((a, b) => spread(a) - spread(b) || a.localeCompare(b)).slice(0, 2);
    if (two.length < 2) this.skip(); // the day's archive has fewer than two updates for web
    const batch = path.join(dir, "two.yaml");
    fs.writeFileSync(batch, `name: two-updates\nlab: reference\npatches:\n${two.map((id) => `  - ${path.join(catalogDir, "debian", "bookworm-security", `${id}.yaml`)}\n`).join("")}`);
    const r = await cli(["run", batch, "--no-watch", "--soak", "0", "--idempotence", "off"], { env });
    expect([0, 1, 2], r.stdout + r.stderr).to.include(r.code);
    // The pipeline's own records (records.jsonl): each step with its group and times.
    type Rec = { type: string; machine: string; patch?: string; group?: string[]; step: string; status: string; message?: string; start: number };
    const recs = fs.readFileSync(path.join(runDirFrom(r.stdout), "records.jsonl"), "utf8").split("\n").filter(Boolean).map((l) => JSON.parse(l) as Rec).filter((x) => x.type === "step");
    const together = (step: string) => recs.filter((s) => s.step === step && s.machine === "web" && s.group?.length === 2);
    const installs = together("install");
    expect(installs.map((s) => s.patch).sort(), r.stdout).to.deep.equal([...two].sort());
    for (const s of installs) expect(s.message).to.match(/^installed in one transaction with /);
    expect(new Set(installs.map((s) => s.start)).size, "one transaction: one start").to.equal(1);
    const uninstalls = together("uninstall");
    if (installs.every((s) => s.status === "passed")) {
      expect(uninstalls.map((s) => s.patch).sort()).to.deep.equal([...two].sort());
      for (const s of uninstalls) expect(s.message).to.match(/^removed in one transaction with /);
      const residue = recs.find((s) => s.step === "residue" && s.machine === "web" && s.group?.length === 2)!;
      expect(residue.message ?? "").to.not.match(/patchlab-lab-updates|\/etc\/apt\/sources\.list|extended_states/);
    }
  });

  it("refuses an InRelease whose signature fails (served from 127.0.0.1): exit 2, nothing written", async function () {
    const mirror = await doctoredMirror({ editInRelease: (t) => t.replace(/^(Description: .*)$/m, "$1 (doctored)") });
    try {
      const before = listFiles(catalogDir);
      const r = await cli(["catalog", "import", "debian", "--mirror", mirror.url], { env });
      expect(r.code, r.stdout + r.stderr).to.equal(2);
      expect(r.stderr).to.match(/signature verification failed/);
      expect(listFiles(catalogDir)).to.deep.equal(before);
    } finally {
      await mirror.close();
    }
  });

  it("refuses a tampered .deb (sha256 mismatch with the signed index): nothing installed, nothing cached", async function () {
    const mirror = await doctoredMirror({ tamperDebs: true });
    const cache = path.join(dir, "cache");
    try {
      // The signed indexes are already cached (shared), the .debs are not: they must come from the doctored mirror.
      fs.mkdirSync(cache, { recursive: true });
      for (const sub of ["releases", "indexes"]) {
        // Hard links when the cache and the temp dir share a filesystem, else a copy.
        try {
          execFileSync("cp", ["-al", path.join(cacheDir(), sub), path.join(cache, sub)], { stdio: "pipe" });
        } catch {
          fs.rmSync(path.join(cache, sub), { recursive: true, force: true });
          execFileSync("cp", ["-a", path.join(cacheDir(), sub), path.join(cache, sub)]);
        }
      }
      const pick = pickForWeb();
      const batch = path.join(dir, "tampered.yaml");
      fs.writeFileSync(batch, `name: tampered\nlab: reference\npatches:\n  - ${path.join(catalogDir, "debian", "bookworm-security", `${pick}.yaml`)}\n`);
      const fp = await fingerprintOf("web");
      const r = await cli(["run", batch], { env: { ...env, PATCHLAB_DEBIAN_SECURITY_MIRROR: mirror.url, PATCHLAB_DEBIAN_CACHE: cache } });
      expect(r.code, r.stdout + r.stderr).to.equal(2);
      expect(r.stdout + r.stderr).to.match(/does not match the signed index/);
      const journal = JournalData.parse(readJson(path.join(runDirFrom(r.stdout), "run.json")));
      expect(journal.steps.filter((s) => s.step === "install")).to.deep.equal([]);
      expect(await fingerprintOf("web")).to.equal(fp);
      // Nothing but verified bytes ever lands in the cache (each file is named by its signed sha256).
      for (const f of listFiles(path.join(cache, "debs"))) expect(path.basename(f).slice(0, 64)).to.equal(sha256File(f));
    } finally {
      await mirror.close();
    }
  });

  it("refuses a manifest naming a package outside the update server: exit 3, nothing installed", async function () {
    const manifest = path.join(dir, "outside.yaml");
    fs.writeFileSync(manifest, YAML.stringify({ id: "OUTSIDE-1", title: "not Debian's", severity: "important", kind: "apt", apt: { suite: "bookworm-security", source: "nginx", version: "9.9.9-1", packages: [{ name: "nginx", version: "9.9.9-1", architecture: "amd64", sha256: "0".repeat(64) }] } }));
    const batch = path.join(dir, "outside-batch.yaml");
    fs.writeFileSync(batch, `name: outside\nlab: reference\npatches:\n  - outside.yaml\n`);
    const fp = await fingerprintOf("web");
    const r = await cli(["run", batch], { env });
    expect(r.code, r.stdout + r.stderr).to.equal(3);
    expect(r.stdout + r.stderr).to.match(/nginx 9\.9\.9-1 \(amd64\) is not on the update server/);
    expect(await fingerprintOf("web")).to.equal(fp);
  });

  it("plan: one patch of each severity and one not applicable get the policy's phases; run --plan runs exactly those", async function () {
    const severities = ["critical", "important", "moderate", "low"] as const;
    const files: string[] = [];
    for (const sev of severities) {
      const deb = buildDeb(dir, { name: `fixture-${sev}`, version: "1.0", files: { [`usr/share/doc/fixture-${sev}/README`]: `${sev}\n` } });
      const f = path.join(dir, `P-${sev}.yaml`);
      fs.writeFileSync(f, `id: P-${sev}\ntitle: ${sev} fixture\nseverity: ${sev}\nkind: deb\ndeb: { file: ${path.basename(deb)} }\nappliesTo: { roles: [web] }\n`);
      files.push(f);
    }
    // Not applicable: a real update (from the signed index) of a package no lab machine has.
    const universe = await loadUniverse({ suites: ["bookworm-security"] });
    const have = new Set(scan.machines.flatMap((m) => [...installedOn(`patchlab-reference-${m.machine}`).keys()]));
    const stanza = [...universe.indexes[0]!.byName.values()].flat().find((s) => s["Architecture"] === "amd64" && !have.has(s["Package"]!) && !s["Source"])!;
    const na = path.join(dir, "P-na.yaml");
    fs.writeFileSync(na, YAML.stringify({ id: "P-na", title: "not here", severity: "important", kind: "apt", apt: { suite: "bookworm-security", source: stanza["Package"], version: stanza["Version"], urgency: "high", packages: [{ name: stanza["Package"], version: stanza["Version"], architecture: "amd64", sha256: stanza["SHA256"] }] } }));
    files.push(na);
    const batch = path.join(dir, "mixed.yaml");
    fs.writeFileSync(batch, `name: mixed\nlab: reference\npatches:\n${files.map((f) => `  - ${path.basename(f)}\n`).join("")}`);
    const out = path.join(dir, "plan");
    const p = await cli(["plan", batch, "-o", out], { env });
    expect(p.code, p.stdout + p.stderr).to.equal(0);
    const plan = readJson<Plan>(path.join(out, "plan.json"));
    const row = (id: string) => plan.patches.find((x) => x.patch === id)!;
    const full = ["baseline", "install", "post-install", "uninstall", "post-uninstall"];
    expect(row("P-critical")).to.deep.include({ phases: ["baseline", "install", "post-install"], depth: "limited", applications: false, machines: ["web"] });
    expect(row("P-important")).to.deep.include({ phases: full, depth: "full", applications: false });
    expect(row("P-moderate")).to.deep.include({ phases: full, depth: "full", applications: false });
    expect(row("P-low")).to.deep.include({ phases: full, depth: "full", applications: true });
    expect(row("P-na")).to.deep.include({ applicability: "not-applicable", phases: [], machines: [] });
    const md = fs.readFileSync(path.join(out, "patch-application-plan.md"), "utf8");
    expect(md).to.include("web-team@corp.example");
    expect(md).to.include("### Rollback plan");

    // --isolate: each patch on its own, so its own phases are visible (chained, a machine's group takes the union).
    const r = await cli(["run", batch, "--isolate", "--plan", path.join(out, "plan.json")], { env });
    const journal = JournalData.parse(readJson(path.join(runDirFrom(r.stdout), "run.json")));
    const stepsOf = (id: string) => journal.steps.filter((s) => s.patch === id).map((s) => s.step);
    expect(stepsOf("P-critical")).to.include("install");
    expect(stepsOf("P-critical").some((s) => s.startsWith("suite") && s.endsWith("post-install"))).to.equal(true);
    expect(stepsOf("P-critical").filter((s) => s === "uninstall" || s.endsWith("post-uninstall"))).to.deep.equal([]);
    for (const id of ["P-important", "P-moderate", "P-low"]) {
      expect(stepsOf(id), id).to.include("uninstall");
      expect(stepsOf(id).some((s) => s.endsWith("post-uninstall")), id).to.equal(true);
    }
    expect(stepsOf("P-na").filter((s) => s !== "plan")).to.deep.equal([]);
    expect(r.code, r.stdout).to.not.equal(3);
  });

  after(function () {
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });
});

