// Detection rules on an inventory, supersedence, and the SQLite scan history.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { expect } from "chai";
import type { Patch } from "../../../harness/config/schemas.ts";
import { evaluateRules, scanInventory } from "../../../harness/inventory/detect.ts";
import { buildScan, formatScan, targetsOf, writeScanAllure } from "../../../harness/inventory/scan.ts";
import { ScanStore } from "../../../harness/inventory/store.ts";
import { aptPatch, inv } from "./helpers.ts";

describe("inventory: detection rules", () => {
  const nginx = aptPatch("DEB-nginx-2", "nginx", "1.22.1-9+deb12u11", ["nginx", "nginx-common", "libnginx-mod-mail"]);

  it("package rules: missing below the version, installed at or above, not applicable without the package", () => {
    const [old, same, newer, none] = [
      inv("a", { nginx: "1.22.1-9+deb12u9", "nginx-common": "1.22.1-9+deb12u9" }),
      inv("b", { nginx: "1.22.1-9+deb12u11", "nginx-common": "1.22.1-9+deb12u11" }),
      inv("c", { nginx: "1:0.1" }),
      inv("d", { bash: "5.2" }),
    ];
    const t = targetsOf([nginx]);
    expect(scanInventory(old!, t)[0]).to.deep.include({ status: "missing" });
    expect(scanInventory(old!, t)[0]!.detail).to.match(/nginx 1\.22\.1-9\+deb12u9 < 1\.22\.1-9\+deb12u11/);
    expect(scanInventory(same!, t)[0]!.status).to.equal("installed");
    expect(scanInventory(newer!, t)[0]!.status).to.equal("installed"); // the epoch wins
    expect(scanInventory(none!, t)[0]!.status).to.equal("not-applicable");
  });

  it("file sha256 and command rules; whenAbsent: missing makes an absent package a missing patch", () => {
    const rules = [
      { file: "/etc/x.conf", sha256: "a".repeat(64), whenAbsent: "not-applicable" as const },
      { command: "nginx -v", output: "1\\.22\\.1" },
      { package: "hardening-tool", minVersion: "2", whenAbsent: "missing" as const },
    ];
    const base = { files: new Map([["/etc/x.conf", "a".repeat(64)]]), commands: new Map([["nginx -v", { exitCode: 0, stdout: "nginx version: nginx/1.22.1\n" }]]) };
    expect(evaluateRules(rules, inv("m", { "hardening-tool": "2.1" }, ["web"], base)).status).to.equal("installed");
    expect(evaluateRules(rules, inv("m", {}, ["web"], base)).status).to.equal("missing");
    expect(evaluateRules(rules.slice(0, 2), inv("m", {}, ["web"], { ...base, files: new Map([["/etc/x.conf", "b".repeat(64)]]) })).detail).to.match(/sha256 .* differs/);
    expect(evaluateRules([{ command: "false", exitCode: 0 }], inv("m", {}, ["web"], { commands: new Map([["false", { exitCode: 1, stdout: "" }]]) })).status).to.equal("missing");
    expect(evaluateRules(rules.slice(0, 1), inv("m", {}, ["web"], { files: new Map([["/etc/x.conf", ""]]) })).status).to.equal("not-applicable");
  });

  it("an update superseded by an installed one counts as installed", () => {
    const older = aptPatch("OLD", "foo", "1.0-1+deb12u1", ["foo"], { detect: [{ command: "foo --fixed-1", exitCode: 0 }] });
    const newer = aptPatch("NEW", "foo", "1.0-1+deb12u2", ["foo"], {}, { supersedes: ["OLD"] });
    const m = inv("m", { foo: "1.0-1+deb12u2" }, ["web"], { commands: new Map([["foo --fixed-1", { exitCode: 1, stdout: "" }]]) });
    const r = scanInventory(m, targetsOf([older, newer]));
    expect(r.find((x) => x.patch === "NEW")!.status).to.equal("installed");
    expect(r.find((x) => x.patch === "OLD")).to.deep.include({ status: "installed" });
    expect(r.find((x) => x.patch === "OLD")!.detail).to.match(/superseded by NEW/);
    // Without the newer one installed, the older one is missing.
    const m2 = inv("m", { foo: "1.0-1" }, ["web"], { commands: m.commands });
    expect(scanInventory(m2, targetsOf([older, newer])).map((x) => x.status)).to.deep.equal(["missing", "missing"]);
  });

  it("appliesTo roles limit an apt patch to those machines", () => {
    const p = aptPatch("X", "openssl", "3.0.22-1", ["libssl3"], { appliesTo: { roles: ["db"] } });
    expect(scanInventory(inv("w", { libssl3: "3.0.20-1" }, ["web"]), targetsOf([p]))[0]!.status).to.equal("not-applicable");
    expect(scanInventory(inv("d", { libssl3: "3.0.20-1" }, ["db"]), targetsOf([p]))[0]!.status).to.equal("missing");
  });
});

describe("inventory: scan history (SQLite)", () => {
  let dir: string;
  beforeEach(() => (dir = fs.mkdtempSync(path.join(os.tmpdir(), "patchlab-store-"))));
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it("stores scans, shows compliance over time per machine, marks what changed since the baseline, writes Allure results", () => {
    const store = new ScanStore(path.join(dir, "inventory.sqlite"));
    try {
      const p: Patch[] = [aptPatch("N", "nginx", "2", ["nginx"]), aptPatch("O", "openssl", "3", ["libssl3"])];
      const first = buildScan("lab1", [inv("web", { nginx: "1", libssl3: "3" }), inv("db", { libssl3: "2" }, ["db"])], p, { startedAt: new Date().toISOString(), baseline: true, store });
      expect(first.scan).to.equal(1);
      const second = buildScan("lab1", [inv("web", { nginx: "2", libssl3: "2" })], p, { startedAt: new Date().toISOString(), baseline: false, store });
      const web = second.machines[0]!.results;
      expect(web.find((r) => r.patch === "N")).to.deep.include({ status: "installed", sinceBaseline: "fixed" });
      expect(web.find((r) => r.patch === "O")).to.deep.include({ status: "missing", sinceBaseline: "new" });
      expect(store.history("lab1").map((h) => [h.scan, h.machine, h.installed, h.missing, h.notApplicable, h.baseline])).to.deep.equal([
        [1, "db", 0, 1, 1, true],
        [1, "web", 1, 1, 0, true],
        [2, "web", 1, 1, 0, false],
      ]);
      expect(store.history("lab1", ["db"]).length).to.equal(1);
      // The newest results per machine: db from scan 1, web from scan 2.
      const latest = store.latestResults("lab1");
      expect([...latest].map(([m, r]) => [m, r.scan])).to.deep.equal([["db", 1], ["web", 2]]);
      expect(store.latestInventories("lab1").get("web")!.get("nginx")!.version).to.equal("2");
      // A scan taken inside a run (context) is history, not the lab's current state.
      store.save({ lab: "lab1", startedAt: "x", finishedAt: "y", baseline: false, context: "run R: after installing N", patches: [], machines: [{ machine: "web", packages: new Map(), results: [{ patch: "O", status: "installed", detail: "" }] }] });
      expect(store.latestResults("lab1").get("web")!.scan).to.equal(2);
      expect(store.scans("lab1").map((s) => s.context ?? "")).to.deep.equal(["", "", "run R: after installing N"]);
      expect(formatScan(second)).to.match(/O\s+moderate\s+MISSING\*/);
      const results = writeScanAllure(path.join(dir, "allure"), second);
      const files = fs.readdirSync(results).filter((f) => f.endsWith("-result.json")).map((f) => JSON.parse(fs.readFileSync(path.join(results, f), "utf8")));
      expect(files.map((f) => f.status).sort()).to.deep.equal(["failed", "passed"]);
    } finally {
      store.close();
    }
  });
});
