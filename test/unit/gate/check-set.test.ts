import { expect } from "chai";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { compareSets } from "../../../harness/gate/check-set.ts";
import { readPackageSet } from "../../../harness/commands/gate.ts";
import { loadWaivers } from "../../../harness/gate/load-waivers.ts";
import { findWaiver, waiverMatches, type Waiver } from "../../../harness/gate/waivers.ts";

const sha = (c: string) => c.repeat(64);

describe("gate: the exact tested set", () => {
  const approved = [{ package: "nginx", version: "1.22.1-9+deb12u2", sha256: sha("a") }, { package: "nginx-common", version: "1.22.1-9+deb12u2" }];

  it("the same packages and versions (and sha256 where both have one) are exact", () => {
    expect(compareSets(approved, [{ package: "nginx-common", version: "1.22.1-9+deb12u2" }, { package: "nginx", version: "1.22.1-9+deb12u2", sha256: sha("a") }]).exact).to.equal(true);
  });

  it("an extra, a missing, another version or other bytes are not", () => {
    const c = compareSets(approved, [{ package: "nginx", version: "1.22.1-9+deb12u2", sha256: sha("b") }, { package: "openssl", version: "3.0" }]);
    expect(c.exact).to.equal(false);
    expect(c.notApproved.map((x) => x.package)).to.deep.equal(["openssl"]);
    expect(c.different.map((x) => x.package)).to.deep.equal(["nginx"]);
    expect(c.missing.map((x) => x.package)).to.deep.equal(["nginx-common"]);
    expect(compareSets(approved, [{ package: "nginx", version: "1.22.1-9+deb12u3" }, approved[1]!]).different).to.have.length(1);
  });

  it("reads package sets from text lines, YAML lists and gate.json; refuses garbage with the file named", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "patchlab-set-"));
    fs.writeFileSync(path.join(dir, "a.txt"), `# promoted today\nnginx=1.22.1-9+deb12u2 ${sha("a")}\nnginx-common 1.22.1-9+deb12u2\n`);
    expect(await readPackageSet(path.join(dir, "a.txt"))).to.deep.equal(approved);
    fs.writeFileSync(path.join(dir, "b.yaml"), `packages:\n  - { package: nginx, version: "1.0" }\n`);
    expect(await readPackageSet(path.join(dir, "b.yaml"))).to.deep.equal([{ package: "nginx", version: "1.0" }]);
    fs.writeFileSync(path.join(dir, "gate.json"), JSON.stringify({ verdict: "approved", approvedSet: [{ package: "x", version: "1" }] }));
    expect(await readPackageSet(path.join(dir, "gate.json"))).to.deep.equal([{ package: "x", version: "1" }]);
    fs.writeFileSync(path.join(dir, "bad.txt"), "nginx\n");
    let err: Error | undefined;
    await readPackageSet(path.join(dir, "bad.txt")).catch((e: Error) => (err = e));
    expect(err?.message).to.match(/--check-set .*bad\.txt: line 1/);
  });
});

describe("gate: waivers", () => {
  const w = (over: Partial<Waiver>): Waiver => ({ reason: "accepted by the owner (CHG-7)", approver: "A B", expires: "2026-12-01", ...over });
  const subject = { patch: "P", machine: "web", phase: "post-install", names: ["web role > web serves its home page over HTTP", "web"] };

  it("match on every field they name; '*' is a wildcard; a suite name matches too", () => {
    expect(waiverMatches(w({ check: "web role > *" }), subject)).to.equal(true);
    expect(waiverMatches(w({ check: "web" }), subject)).to.equal(true);
    expect(waiverMatches(w({ check: "web role > web serves" }), subject), "no implicit prefix match").to.equal(false);
    expect(waiverMatches(w({ patch: "P", machine: "db" }), subject)).to.equal(false);
    expect(waiverMatches(w({ patch: "P", phase: "post-uninstall" }), subject)).to.equal(false);
  });

  it("apply through their expiry day and not after; expired ones are reported", () => {
    expect(findWaiver([w({ patch: "P" })], subject, "2026-12-01").active).to.not.equal(undefined);
    const after = findWaiver([w({ patch: "P", id: "W-9" })], subject, "2026-12-02");
    expect(after.active).to.equal(undefined);
    expect(after.expired.map((x) => x.id)).to.deep.equal(["W-9"]);
  });

  it("a waivers file with a bad date, a short reason or no target is bad input naming each field", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "patchlab-waivers-"));
    const file = path.join(dir, "waivers.yaml");
    fs.writeFileSync(file, "waivers:\n  - reason: ok\n    approver: A B\n    expires: 2026-02-30\n");
    let err: Error & { describe?: () => string } = new Error("none");
    await loadWaivers(file).catch((e) => (err = e));
    const text = err.describe?.() ?? err.message;
    expect(text).to.contain("waivers.yaml");
    expect(text).to.match(/expires/);
    expect(text).to.match(/reason/);
    expect(text).to.match(/at least one of check, patch or machine/);
  });

  it("no default waivers file means no waivers; an explicit missing file is an error", async () => {
    expect((await loadWaivers()).waivers).to.deep.equal([]);
    let failed = false;
    await loadWaivers("/nonexistent/waivers.yaml").catch(() => (failed = true));
    expect(failed).to.equal(true);
  });
});
