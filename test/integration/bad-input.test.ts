// Bad input: exit 3, a message naming the file and the field, and nothing created.
import fs from "node:fs";
import path from "node:path";
import { expect } from "chai";
import { repoRoot } from "../../harness/core/paths.ts";
import { cli, labelled, tmpDir } from "./support.ts";

const BAD_LABS = path.join(repoRoot, "test/fixtures/config/bad-labs");

describe("bad lab and batch files", function () {
  const cases: [string, RegExp][] = [
    ["syntax-error.yaml", /syntax-error\.yaml:\d+/],
    ["unknown-role.yaml", /unknown-role\.yaml:\d+:\d+: machines\[\d+\]\.roles\[\d+\]/],
    ["duplicate-machine.yaml", /duplicate-machine\.yaml:\d+:\d+: machines\[\d+\]\.name/],
    ["missing-site.yaml", /missing-site\.yaml:\d+:\d+: machines\[\d+\].*site/],
    ["roles-not-list.yaml", /roles-not-list\.yaml:\d+:\d+: machines\[\d+\]\.roles/],
  ];
  for (const [file, pattern] of cases) {
    it(`lab up ${file} exits 3 naming file and field, and creates nothing`, async function () {
      const before = await labelled("patchlab.managed=true");
      const r = await cli(["lab", "up", path.join(BAD_LABS, file)]);
      expect(r.code, r.stderr).to.equal(3);
      expect(r.stderr).to.match(pattern);
      expect(r.stderr).to.match(/remedy/i);
      const after = await labelled("patchlab.managed=true");
      expect(after.containers).to.deep.equal(before.containers);
      expect(after.networks).to.deep.equal(before.networks);
    });
  }

  it("run with a batch naming a missing patch file exits 3 and writes only gate.json and summary.md, with the problem", async function () {
    const dir = tmpDir("badbatch");
    const batch = path.join(dir, "b.yaml");
    fs.writeFileSync(batch, "name: broken\nlab: reference\npatches:\n  - nowhere.yaml\n");
    const reports = path.join(dir, "reports");
    const r = await cli(["run", batch], { env: { PATCHLAB_REPORTS_DIR: reports } });
    expect(r.code, r.stderr).to.equal(3);
    expect(r.stderr).to.match(/b\.yaml:\d+:\d+: patches\[0\]/);
    const runs = fs.readdirSync(reports).filter((f) => !f.startsWith("."));
    expect(runs).to.have.length(1);
    expect(fs.readdirSync(path.join(reports, runs[0]!)).sort()).to.deep.equal(["gate.json", "summary.md"]);
    const gate = JSON.parse(fs.readFileSync(path.join(reports, runs[0]!, "gate.json"), "utf8")) as { verdict: string; exitCode: number; problems: { field?: string; file?: string }[] };
    expect(gate).to.include({ verdict: "bad-input", exitCode: 3 });
    expect(gate.problems.some((p) => p.field === "patches[0]" && /b\.yaml/.test(p.file ?? ""))).to.equal(true);
  });

  it("an unknown command line option exits 3", async function () {
    const r = await cli(["lab", "status", "--no-such-option"]);
    expect(r.code).to.equal(3);
    expect(r.stderr).to.match(/unknown option/);
  });
});
