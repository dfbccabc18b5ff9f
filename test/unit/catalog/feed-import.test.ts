// The signed-feed import end to end against a small archive made and signed here (served on
// 127.0.0.1): a good feed gives catalog entries; a doctored InRelease, a tampered .deb or
// index, an expired index are each refused with a clear error and leave nothing behind.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { expect } from "chai";
import { loadCatalog } from "../../../harness/catalog/catalog.ts";
import { FeedError } from "../../../harness/catalog/errors.ts";
import { importDebian } from "../../../harness/catalog/import.ts";
import { parseDpkgQuery } from "../../../harness/inventory/inventory.ts";
import { fakeArchive, type FakeArchive } from "./fake-archive.ts";

const CL = (v: string) => `fixture-web (${v}) bookworm-security; urgency=high

  * Fix CVE-2026-4242: request smuggling.

 -- Security Team <team@security.debian.org>  Thu, 19 Nov 2026 21:02:23 +0000

fixture-web (1.0-1+deb12u1) bookworm-security; urgency=medium

  * Fix CVE-2026-1000.

 -- Security Team <team@security.debian.org>  Thu, 01 Oct 2026 10:00:00 +0000

fixture-web (1.0-1) bookworm; urgency=medium

  * Initial release. CVE-2020-0001 was fixed long ago.

 -- Maint <m@example.org>  Sat, 11 Jul 2026 10:00:00 +0000
`;

const inventory = (lines: string) => ({ machine: "web", roles: ["web"], packages: parseDpkgQuery(lines), files: new Map(), commands: new Map(), collectedAt: "" });

function listFiles(dir: string): string[] {
  if (!fs.existsSync(dir)) return [];
  return fs.readdirSync(dir, { recursive: true, withFileTypes: true }).filter((e) => e.isFile()).map((e) => path.join(e.parentPath, e.name)).sort();
}

describe("catalog: import from a signed feed", function () {
  this.timeout(30_000);
  let archive: FakeArchive;
  let tmp: string;
  const saved = { ...process.env };

  beforeEach(async () => {
    archive = await fakeArchive({
      "bookworm-security": [
        { name: "fixture-web", version: "1.0-1+deb12u2", changelog: CL("1.0-1+deb12u2"), depends: "fixture-web-common (= 1.0-1+deb12u2)" },
        { name: "fixture-web-common", version: "1.0-1+deb12u2", source: "fixture-web", changelog: CL("1.0-1+deb12u2") },
        { name: "unrelated", version: "2.0-1", changelog: "unrelated (2.0-1) bookworm-security; urgency=low\n\n  * x\n\n -- a <a@b.c>  Thu, 19 Nov 2026 21:02:23 +0000\n" },
      ],
      bookworm: [
        { name: "fixture-web", version: "1.0-1", changelog: "" },
        { name: "fixture-web-common", version: "1.0-1", source: "fixture-web" },
      ],
    });
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), "patchlab-import-"));
    process.env.PATCHLAB_DEBIAN_KEYRING = archive.keyring;
    process.env.PATCHLAB_DEBIAN_MIRROR = archive.url;
    process.env.PATCHLAB_DEBIAN_SECURITY_MIRROR = archive.url;
    process.env.PATCHLAB_DEBIAN_CACHE = path.join(tmp, "cache");
    process.env.PATCHLAB_CATALOG_DIR = path.join(tmp, "catalog");
  });

  afterEach(async () => {
    process.env = { ...saved };
    await archive.close();
    fs.rmSync(tmp, { recursive: true, force: true });
  });

  const run = () =>
    importDebian({ suite: "bookworm-security", inventories: [inventory("fixture-web\t1.0-1\tall\tii \tfixture-web\nbase-files\t12\tamd64\tii \tbase-files\n")] });

  it("writes one entry per source update touching an installed package, with CVEs, urgency, supersedes and signed hashes", async () => {
    const r = await run();
    expect(r.entries.map((e) => e.id)).to.deep.equal(["DEB-fixture-web-1.0-1_deb12u2"]);
    const [entry] = await loadCatalog(process.env.PATCHLAB_CATALOG_DIR);
    const p = entry!.patch;
    expect(p.kind).to.equal("apt");
    expect(p.cves).to.deep.equal(["CVE-2026-1000", "CVE-2026-4242"]); // both updates since the baseline, not the baseline's own
    expect(p.apt.urgency).to.equal("high");
    expect(p.severity).to.equal("important");
    expect(p.apt.supersedes).to.deep.equal(["DEB-fixture-web-1.0-1_deb12u1"]);
    expect(p.apt.packages.map((x) => x.name)).to.deep.equal(["fixture-web", "fixture-web-common"]);
    const served = fs.readFileSync(path.join(archive.dir, p.apt.packages[0]!.filename!));
    expect(p.apt.packages[0]!.sha256).to.equal((await import("node:crypto")).createHash("sha256").update(served).digest("hex"));
    expect(p.apt.released).to.equal("2026-11-19T21:02:23.000Z");

    // Warm: only the InRelease is fetched again; nothing changes.
    const again = await run();
    expect(again.downloads.files).to.equal(1);
    expect(again.entries.map((e) => e.change)).to.deep.equal(["unchanged"]);
  });

  it("refuses an InRelease whose signed text was modified: signature error, nothing written or cached", async () => {
    archive.tamper("dists/bookworm-security/InRelease", (b) => Buffer.from(b.toString().replace(/^Origin: Test$/m, "Origin: Evil")));
    const err = await run().then(() => undefined, (e: unknown) => e);
    expect(err).to.be.instanceOf(FeedError);
    expect((err as FeedError).kind).to.equal("signature");
    expect((err as FeedError).message).to.match(/signature verification failed/);
    expect((err as FeedError).exitCode).to.equal(2);
    expect(listFiles(process.env.PATCHLAB_CATALOG_DIR!)).to.deep.equal([]);
    expect(listFiles(process.env.PATCHLAB_DEBIAN_CACHE!).filter((f) => !f.includes("/tmp/"))).to.deep.equal([]);
  });

  it("refuses an index signed by a key outside the keyring", async () => {
    const other = await fakeArchive({ "bookworm-security": [] });
    try {
      process.env.PATCHLAB_DEBIAN_KEYRING = other.keyring;
      const err = await run().then(() => undefined, (e: unknown) => e);
      expect((err as FeedError).kind).to.equal("signature");
    } finally {
      await other.close();
    }
  });

  it("refuses a .deb whose bytes do not match the signed sha256: nothing written, nothing cached", async () => {
    for (const f of listFiles(path.join(archive.dir, "pool"))) archive.tamper(path.relative(archive.dir, f), (b) => Buffer.concat([b, Buffer.from("x")]));
    const err = await run().then(() => undefined, (e: unknown) => e);
    expect((err as FeedError).kind).to.equal("hash");
    expect((err as FeedError).message).to.match(/does not match the signed index/);
    expect(listFiles(process.env.PATCHLAB_CATALOG_DIR!)).to.deep.equal([]);
    expect(listFiles(process.env.PATCHLAB_DEBIAN_CACHE!).filter((f) => f.endsWith(".deb"))).to.deep.equal([]);
  });

  it("refuses a Packages index that does not match the signed hash", async () => {
    archive.tamper("dists/bookworm-security/main/binary-amd64/Packages.xz", (b) => Buffer.concat([b, Buffer.from("junk")]));
    const err = await run().then(() => undefined, (e: unknown) => e);
    expect((err as FeedError).kind).to.equal("hash");
    expect(listFiles(process.env.PATCHLAB_CATALOG_DIR!)).to.deep.equal([]);
  });

  it("refuses an index past its Valid-Until (a replayed or stale mirror)", async () => {
    archive.resign("bookworm-security", (t) => t.replace(/^Valid-Until: .*$/m, `Valid-Until: ${new Date(Date.now() - 86400_000).toUTCString()}`));
    const err = await run().then(() => undefined, (e: unknown) => e);
    expect((err as FeedError).kind).to.equal("expired");
    expect(listFiles(process.env.PATCHLAB_CATALOG_DIR!)).to.deep.equal([]);
  });
});
