// Control-file parsing (Release, Packages, Depends) and changelog reading, including from a
// real .deb built here with dpkg-deb.
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import zlib from "node:zlib";
import { expect } from "chai";
import { changelogFromDeb, highestUrgency, parseChangelog } from "../../../harness/catalog/changelog.ts";
import { parseDepends, parseStanzas, releaseHashes, sourceOf } from "../../../harness/catalog/deb822.ts";
import { groupBySource } from "../../../harness/catalog/import.ts";

const CHANGELOG = `nginx (1.22.1-9+deb12u11) bookworm-security; urgency=high

  * Fix CVE-2026-1111 and CVE-2026-2222 (heap overflow in the resolver).
  * Also CVE-2026-1111 again.

 -- Debian Security Team <team@security.debian.org>  Thu, 19 Nov 2026 21:02:23 +0000

nginx (1.22.1-9+deb12u10) bookworm-security; urgency=medium

  * CVE-2026-3333

 -- Jan Mojžíš <jan@example.org>  Mon, 05 Oct 2026 10:00:00 +0200

nginx (1.22.1-9+deb12u9) bookworm; urgency=medium

  * Point release fix, no CVE.

 -- Jan <jan@example.org>  Sat, 11 Jul 2026 10:00:00 +0000
`;

describe("catalog: control files and changelogs", () => {
  it("parses stanzas with continuation lines, dependencies and source fields", () => {
    const [a, b] = parseStanzas("Package: nginx\nSource: nginx (1.2-1)\nVersion: 1.2-1+b1\nDescription: web\n server\n .\n more\n\nPackage: libx\nVersion: 2\n");
    expect(a!["Description"]).to.equal("web\nserver\n.\nmore");
    expect(sourceOf(a!)).to.deep.equal({ name: "nginx", version: "1.2-1" });
    expect(sourceOf(b!)).to.deep.equal({ name: "libx", version: "2" });
    expect(parseDepends("libc6 (>= 2.34), nginx-common (= 1.22.1-9+deb12u11), debconf (>= 0.5) | debconf-2.0, libssl3:any (> 3)")).to.deep.equal([
      [{ name: "libc6", rel: ">=", version: "2.34" }],
      [{ name: "nginx-common", rel: "=", version: "1.22.1-9+deb12u11" }],
      [{ name: "debconf", rel: ">=", version: "0.5" }, { name: "debconf-2.0" }],
      [{ name: "libssl3", arch: "any", rel: ">=", version: "3" }],
    ]);
    const rel = parseStanzas(`Suite: x\nSHA256:\n ${"a".repeat(64)}  123 main/binary-amd64/Packages\n ${"b".repeat(64)} 45 main/binary-amd64/Packages.xz\n`)[0]!;
    expect(releaseHashes(rel).get("main/binary-amd64/Packages.xz")).to.deep.equal({ sha256: "b".repeat(64), size: 45 });
  });

  it("groups binary packages by source package and source version (binNMUs included)", () => {
    const idx = new Map([
      ["nginx", [{ Package: "nginx", Version: "1.2-1", Architecture: "amd64" }]],
      ["nginx-common", [{ Package: "nginx-common", Version: "1.2-1", Architecture: "all", Source: "nginx" }]],
      ["libfoo1", [{ Package: "libfoo1", Version: "3-1+b1", Architecture: "amd64", Source: "foo (3-1)" }]],
      ["ignored", [{ Package: "ignored", Version: "1", Architecture: "arm64" }]],
    ]);
    const g = [...groupBySource(idx).values()].map((x) => [x.source, x.version, x.stanzas.map((s) => s["Package"]).sort()]);
    expect(g).to.deep.equal([["nginx", "1.2-1", ["nginx", "nginx-common"]], ["foo", "3-1", ["libfoo1"]]]);
  });

  it("reads versions, distributions, urgency, CVE ids (once each) and dates from a changelog", () => {
    const e = parseChangelog(CHANGELOG);
    expect(e.map((x) => [x.version, x.distributions[0], x.urgency])).to.deep.equal([
      ["1.22.1-9+deb12u11", "bookworm-security", "high"],
      ["1.22.1-9+deb12u10", "bookworm-security", "medium"],
      ["1.22.1-9+deb12u9", "bookworm", "medium"],
    ]);
    expect(e[0]!.cves).to.deep.equal(["CVE-2026-1111", "CVE-2026-2222"]);
    expect(e[0]!.date).to.equal("2026-11-19T21:02:23.000Z");
    expect(e[2]!.cves).to.deep.equal([]);
    expect(highestUrgency(["medium", "high", "low"])).to.equal("high");
    expect(highestUrgency(["medium", "emergency"])).to.equal("emergency");
  });

  it("finds changelog.Debian.gz inside a .deb built with dpkg-deb, and says when there is none", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "patchlab-changelog-"));
    try {
      const build = (name: string, withLog: boolean) => {
        const tree = path.join(dir, name);
        fs.mkdirSync(path.join(tree, "DEBIAN"), { recursive: true });
        fs.writeFileSync(path.join(tree, "DEBIAN", "control"), `Package: ${name}\nVersion: 1.22.1-9+deb12u11\nArchitecture: all\nMaintainer: t <t@example.org>\nDescription: t\n`);
        fs.mkdirSync(path.join(tree, "usr/share/doc", name), { recursive: true });
        if (withLog) fs.writeFileSync(path.join(tree, "usr/share/doc", name, "changelog.Debian.gz"), zlib.gzipSync(CHANGELOG));
        else fs.writeFileSync(path.join(tree, "usr/share/doc", name, "copyright"), "x");
        const deb = path.join(dir, `${name}.deb`);
        execFileSync("dpkg-deb", ["--root-owner-group", "-Zgzip", "--build", tree, deb], { stdio: "pipe" });
        return deb;
      };
      const text = await changelogFromDeb(build("withlog", true));
      expect(parseChangelog(text!)[0]!.cves).to.deep.equal(["CVE-2026-1111", "CVE-2026-2222"]);
      expect(await changelogFromDeb(build("nolog", false))).to.equal(undefined);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
