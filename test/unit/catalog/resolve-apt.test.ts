// What the update server must carry for a machine (dependencies, rollback versions, what is
// missing), how an apt manifest is checked against the signed indexes, how apt's failures
// are told apart, and the repository index the update server serves.
import { createHash } from "node:crypto";
import { expect } from "chai";
import { parseStanzas } from "../../../harness/catalog/deb822.ts";
import { repoIndex } from "../../../harness/catalog/repo.ts";
import { resolveOnMachine } from "../../../harness/catalog/resolve.ts";
import { universeOf } from "../../../harness/catalog/universe.ts";
import type { PackagesIndex } from "../../../harness/catalog/feed.ts";
import { ConfigError } from "../../../harness/core/errors.ts";
import { prepareApt, resolverFailure } from "../../../harness/patch/apt.ts";
import { aptPatch, inv } from "../inventory/helpers.ts";

const st = (pkg: string, version: string, extra: Record<string, string> = {}) => ({ Package: pkg, Version: version, Architecture: "amd64", Filename: `pool/${pkg}_${version}.deb`, SHA256: `${pkg}-${version}`.padEnd(64, "0").slice(0, 64), Size: "100", ...extra });
const index = (suite: "bookworm-security" | "bookworm", stanzas: Record<string, string>[]): PackagesIndex => {
  const byName = new Map<string, Record<string, string>[]>();
  for (const s of stanzas) byName.set(s["Package"]!, [...(byName.get(s["Package"]!) ?? []), s]);
  return { suite, mirror: `http://mirror/${suite}`, byName, sha256: suite };
};

const security = index("bookworm-security", [
  st("nginx", "1.22.1-9+deb12u11", { Depends: "nginx-common (= 1.22.1-9+deb12u11), libssl3 (>= 3.0.0), libnew1 (>= 2)" }),
  st("nginx-common", "1.22.1-9+deb12u11", { Depends: "lsb-base | sysvinit-utils" }),
  st("broken", "2.0", { Depends: "ghost-lib (>= 9)" }),
]);
const main = index("bookworm", [
  st("nginx", "1.22.1-9+deb12u9"),
  st("nginx-common", "1.22.1-9+deb12u9"),
  st("libnew1", "2.1-1", { Depends: "libc6 (>= 2.34)" }),
  st("libssl3", "3.0.20-1~deb12u2"),
  st("sysvinit-utils", "3.06-4"),
]);
const universe = universeOf([security, main]);

describe("catalog: update server contents for a machine", () => {
  it("takes the update's installed packages, resolves new dependencies, and carries the current versions for the downgrade", () => {
    const m = inv("web", { nginx: "1.22.1-9+deb12u9", "nginx-common": "1.22.1-9+deb12u9", libssl3: "3.0.20-1~deb12u2", libc6: "2.36-9", "sysvinit-utils": "3.06-4" });
    const plan = resolveOnMachine([{ name: "nginx", version: "1.22.1-9+deb12u11" }, { name: "nginx-common", version: "1.22.1-9+deb12u11" }, { name: "libnginx-mod-mail", version: "1.22.1-9+deb12u11" }], m, universe);
    expect(plan.install).to.deep.equal([{ name: "nginx", version: "1.22.1-9+deb12u11" }, { name: "nginx-common", version: "1.22.1-9+deb12u11" }]);
    expect(plan.publish.map((p) => `${p.stanza["Package"]}=${p.stanza["Version"]}`).sort()).to.deep.equal([
      "libnew1=2.1-1", // a dependency the machine lacks, from the signed main index
      "nginx-common=1.22.1-9+deb12u11",
      "nginx-common=1.22.1-9+deb12u9", // what the machine has now: the downgrade's target
      "nginx=1.22.1-9+deb12u11",
      "nginx=1.22.1-9+deb12u9",
    ]);
    expect(plan.missing).to.deep.equal([]);
    expect(plan.noRollback).to.deep.equal([]);
  });

  it("names a dependency no signed index has, and a current version no index carries", () => {
    const m = inv("web", { broken: "1.0", libc6: "2.36-9" });
    const plan = resolveOnMachine([{ name: "broken", version: "2.0" }], m, universe);
    expect(plan.missing).to.deep.equal(["ghost-lib (>= 9) (needed by broken 2.0)"]);
    expect(plan.noRollback).to.deep.equal(["broken 1.0"]);
  });
});

describe("patch: apt manifests against the signed indexes", () => {
  it("accepts a manifest matching the index; refuses a package outside it or a wrong sha256, naming file and field", () => {
    const ok = aptPatch("N", "nginx", "1.22.1-9+deb12u11", ["nginx"]);
    ok.apt.packages[0]!.sha256 = security.byName.get("nginx")![0]!["SHA256"]!;
    const a = prepareApt(ok, "/m/n.yaml", universe);
    expect(a.payload).to.deep.equal([{ package: "nginx", version: "1.22.1-9+deb12u11", sha256: ok.apt.packages[0]!.sha256 }]);
    expect(a.apt!.packages[0]!.url).to.equal("http://mirror/bookworm-security/pool/nginx_1.22.1-9+deb12u11.deb");

    const outside = aptPatch("X", "evil", "6.6.6", ["evil-tool"]);
    expect(() => prepareApt(outside, "/m/x.yaml", universe)).to.throw(ConfigError, /apt\.packages\[0\]: evil-tool 6\.6\.6 \(amd64\) is not on the update server/);
    const wrongVersion = aptPatch("Y", "nginx", "1.22.1-9+deb12u99", ["nginx"]);
    expect(() => prepareApt(wrongVersion, "/m/y.yaml", universe)).to.throw(ConfigError, /it has 1\.22\.1-9\+deb12u11 \(bookworm-security\), 1\.22\.1-9\+deb12u9 \(bookworm\)/);
    const badHash = aptPatch("Z", "nginx", "1.22.1-9+deb12u11", ["nginx"]);
    try {
      prepareApt(badHash, "/m/z.yaml", universe);
      expect.fail("accepted a wrong sha256");
    } catch (e) {
      expect(e).to.be.instanceOf(ConfigError);
      expect((e as ConfigError).field).to.equal("apt.packages[0].sha256");
      expect((e as ConfigError).file).to.equal("/m/z.yaml");
    }
  });

  it("tells apt resolver failures (the harness's: needs review) from dpkg failures (the patch's)", () => {
    expect(resolverFailure("The following packages have unmet dependencies:\n nginx : Depends: nginx-common (= 1.22.1-9+deb12u11) but 1.22.1-9+deb12u9 is to be installed\nE: Unable to correct problems, you have held broken packages.")).to.match(/unmet dependencies on the update server: nginx : Depends: nginx-common/);
    expect(resolverFailure("E: Version '9.9' for 'nginx' was not found")).to.equal("Version '9.9' for 'nginx' was not found");
    expect(resolverFailure("E: Unable to locate package ghost")).to.equal("Unable to locate package ghost");
    expect(resolverFailure("Setting up nginx (1.22.1-9+deb12u11) ...\ndpkg: error processing package nginx (--configure):\n installed nginx package post-installation script subprocess returned error exit status 1\nE: Sub-process /usr/bin/dpkg returned an error code (1)")).to.equal(undefined);
  });
});

describe("catalog: the update server's repository index", () => {
  it("lists each package once with the signed stanza, and a Release whose hashes match the index", () => {
    const pkgs = [st("nginx", "2"), st("nginx", "2"), st("nginx", "1")].map((stanza) => ({ stanza, url: "" }));
    const { packages, release } = repoIndex(pkgs, new Date("2026-11-27T00:00:00Z"));
    expect(parseStanzas(packages).map((s) => `${s["Package"]}=${s["Version"]}`)).to.deep.equal(["nginx=1", "nginx=2"]);
    const line = release.split("\n").find((l) => l.endsWith(" main/binary-amd64/Packages"))!;
    const [hash, size] = line.trim().split(/\s+/);
    expect(hash).to.equal(createHash("sha256").update(packages).digest("hex"));
    expect(Number(size)).to.equal(Buffer.byteLength(packages));
    expect(release).to.match(/^Codename: lab$/m);
  });
});
