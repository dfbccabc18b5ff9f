// Scheduled scans (croner, in the foreground) keep going after a failed scan; `batch from-scan`
// writes the newest missing update per source package, filtered by severity.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { expect } from "chai";
import YAML from "yaml";
import { writeEntry } from "../../../harness/catalog/catalog.ts";
import { batchFromScan } from "../../../harness/commands/batch.ts";
import { scheduleScan } from "../../../harness/commands/scan.ts";
import { loadBatch } from "../../../harness/config/loader.ts";
import { ConfigError } from "../../../harness/core/errors.ts";
import type { ScanResult } from "../../../harness/inventory/scan.ts";
import { buildScan } from "../../../harness/inventory/scan.ts";
import { ScanStore } from "../../../harness/inventory/store.ts";
import { aptPatch, inv } from "./helpers.ts";

describe("inventory: scheduled scans", function () {
  this.timeout(20_000);

  it("runs on the cron schedule and goes on after a failed scan", async () => {
    const calls: number[] = [];
    const fake = async (): Promise<ScanResult> => {
      calls.push(Date.now());
      if (calls.length === 1) throw new Error("lab busy");
      return { scan: 1, lab: "x", startedAt: "", finishedAt: "", baseline: false, patches: [], machines: [] };
    };
    await scheduleScan("reference", "* * * * * *", { maxRuns: 2 }, fake);
    expect(calls.length).to.equal(2);
    expect(calls[1]! - calls[0]!).to.be.within(500, 2500);
  });

  it("refuses a malformed cron expression with a remedy", async () => {
    const err = await scheduleScan("reference", "every night", {}, async () => { throw new Error("not reached"); }).then(() => undefined, (e: unknown) => e);
    expect(err).to.be.instanceOf(ConfigError);
    expect((err as ConfigError).remedy).to.match(/0 3 \* \* \*/);
  });
});

describe("batch from-scan", () => {
  let dir: string;
  const saved = { ...process.env };
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "patchlab-batch-"));
    process.env.PATCHLAB_CATALOG_DIR = path.join(dir, "catalog");
    process.env.PATCHLAB_INVENTORY_DB = path.join(dir, "inventory.sqlite");
  });
  afterEach(() => {
    process.env = { ...saved };
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it("writes a loadable batch of the missing updates, newest per source, filtered by severity", async () => {
    const old = aptPatch("DEB-nginx-1", "nginx", "1.22.1-9+deb12u10", ["nginx"], { severity: "important" });
    const cur = aptPatch("DEB-nginx-2", "nginx", "1.22.1-9+deb12u11", ["nginx"], { severity: "important" }, { supersedes: ["DEB-nginx-1"] });
    const tz = aptPatch("DEB-tzdata-1", "tzdata", "2026f-0", ["tzdata"], { severity: "low" });
    const ok = aptPatch("DEB-ok-1", "okpkg", "1.0", ["okpkg"], { severity: "critical" });
    for (const p of [old, cur, tz, ok]) writeEntry(process.env.PATCHLAB_CATALOG_DIR!, p);
    const store = new ScanStore();
    buildScan("reference", [inv("web", { nginx: "1.22.1-9+deb12u9", tzdata: "2026b-0", okpkg: "1.0" })], [old, cur, tz, ok], { startedAt: "", baseline: false, store });
    store.close();

    const all = await batchFromScan("reference", { output: path.join(dir, "b.yaml") });
    expect(all.patches).to.deep.equal(["DEB-nginx-2", "DEB-tzdata-1"]);
    const loaded = await loadBatch(all.file);
    expect(loaded.patches.map((p) => p.patch.id)).to.deep.equal(["DEB-nginx-2", "DEB-tzdata-1"]);
    expect(loaded.lab.lab.name).to.equal("reference");

    const important = await batchFromScan("reference", { severity: ["important"], output: path.join(dir, "i.yaml"), name: "urgent" });
    expect(important.patches).to.deep.equal(["DEB-nginx-2"]);
    expect(YAML.parse(fs.readFileSync(important.file, "utf8")).name).to.equal("urgent");

    const none = await batchFromScan("reference", { severity: ["critical"], output: path.join(dir, "c.yaml") }).then(() => undefined, (e: unknown) => e);
    expect(none).to.be.instanceOf(ConfigError);
    expect((none as ConfigError).message).to.match(/no missing update of severity critical/);
    expect(fs.existsSync(path.join(dir, "c.yaml"))).to.equal(false);
  });
});
