// Patches and batches: paths resolve relative to the file that names them, and every
// problem across the batch, its lab and its patches is reported in one pass.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { expect } from "chai";
import { loadBatch, loadPatch } from "../../../harness/config/loader.ts";
import { configErrorsOf, fixture, fixtureRoot, onlyErrorOf, repoRoot } from "./helpers.ts";

const rel = (p: string) => path.relative(process.cwd(), p);

describe("config: loading patch manifests", () => {
  it("loads a good manifest, fills defaults and resolves deb.build relative to the manifest", async () => {
    const { patch, file, debPath } = await loadPatch(fixture("patches/hello/patch.yaml"));
    expect(file).to.equal(fixture("patches/hello/patch.yaml"));
    expect(patch.id).to.equal("PL-FIX-0001");
    expect(patch.vendor).to.equal("debian");
    expect(patch.restart).to.equal("none");
    expect(debPath).to.equal(fixture("patches/hello/pkg"));
  });

  it("resolves deb.file relative to the manifest when the .deb exists", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "patchlab-patch-"));
    try {
      fs.mkdirSync(path.join(dir, "debs"));
      fs.writeFileSync(path.join(dir, "debs/x_1.0_all.deb"), "!<arch>\n"); // an ar archive, as every .deb
      fs.writeFileSync(
        path.join(dir, "p.yaml"),
        "id: X-1\ntitle: x\nseverity: low\nkind: deb\ndeb: { file: debs/x_1.0_all.deb }\nappliesTo: { roles: [web] }\n",
      );
      const { debPath } = await loadPatch(path.join(dir, "p.yaml"));
      expect(debPath).to.equal(path.join(dir, "debs/x_1.0_all.deb"));
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it("a deb.file that does not exist is an error at its line naming the resolved path", async () => {
    const e = await onlyErrorOf(loadPatch(fixture("patches/missing-deb.yaml")));
    expect(e.field).to.equal("deb.file");
    expect(e.line).to.equal(7);
    expect(e.message).to.include(`.deb file not found: ${rel(fixture("patches/does-not-exist_1.0_all.deb"))}`);
    expect(e.remedy).to.match(/relative to .*patches\/\)/);
  });

  it("a deb.build tree without DEBIAN/control is an error", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "patchlab-patch-"));
    try {
      fs.mkdirSync(path.join(dir, "tree"));
      fs.writeFileSync(path.join(dir, "p.yaml"), "id: X-1\ntitle: x\nseverity: low\nkind: deb\ndeb:\n  build: tree\nappliesTo: { roles: [web] }\n");
      const e = await onlyErrorOf(loadPatch(path.join(dir, "p.yaml")));
      expect(e.field).to.equal("deb.build");
      expect(e.line).to.equal(6);
      expect(e.message).to.match(/has no DEBIAN\/control/);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it("deb with both file and build says exactly one is allowed, and names both forms", async () => {
    const e = await onlyErrorOf(loadPatch(fixture("patches/file-and-build.yaml")));
    expect(e.field).to.equal("deb");
    expect(e.line).to.equal(7);
    expect(e.message).to.match(/must have exactly one of `file:` or `build:`/);
    expect(e.remedy).to.match(/file: \.deb file, relative to the manifest; build: package tree/);
  });

  it("inside deb: a matched form's own problem is reported, not 'no form matched'", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "patchlab-patch-"));
    try {
      fs.writeFileSync(path.join(dir, "p.yaml"), 'id: X-1\ntitle: x\nseverity: low\nkind: rpm\ndeb:\n  build: ""\nappliesTo: { roles: [] }\n');
      const errors = await configErrorsOf(loadPatch(path.join(dir, "p.yaml")));
      expect(errors.map((e) => [e.line, e.field, e.remedy])).to.deep.equal([
        [4, "kind", "write `kind: deb`"],
        [6, "deb.build", "fill in `build:` (package tree (DEBIAN/control + files), relative to the manifest; built with dpkg-deb)"],
        [7, "appliesTo.roles", "add at least 1 item(s) under `roles:`"],
      ]);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it("reports every field problem of a manifest with its remedy", async () => {
    const errors = await configErrorsOf(loadPatch(fixture("patches/bad-fields.yaml")));
    expect(errors.map((e) => [e.line, e.field])).to.deep.equal([
      [2, "id"],
      [4, "severity"],
      [9, "appliesTo.roles"],
      [10, "restrat"],
    ]);
    expect(errors[1]!.remedy).to.equal("use one of: critical, important, moderate, low");
    expect(errors[2]!.remedy).to.equal("write it as a list: `roles: [web]`");
    expect(errors[3]!.remedy).to.match(/did you mean `restart:`/);
  });
});

describe("config: loading batches", () => {
  it("loads a batch with its lab (by name under the config root) and its patches", async () => {
    const b = await loadBatch(fixture("batches/good.yaml"), { configRoot: fixtureRoot });
    expect(b.file).to.equal(fixture("batches/good.yaml"));
    expect(b.batch.name).to.equal("good");
    expect(b.lab.lab.name).to.equal("small");
    expect(b.lab.file).to.equal(path.join(fixtureRoot, "labs/small.yaml"));
    expect(b.patches.map((p) => p.patch.id)).to.deep.equal(["PL-FIX-0001"]);
    expect(b.patches[0]!.debPath).to.equal(fixture("patches/hello/pkg"));
  });

  it("resolves a lab given as a path relative to the batch file", async () => {
    const b = await loadBatch(fixture("batches/lab-by-path.yaml"), { configRoot: fixtureRoot });
    expect(b.lab.file).to.equal(fixture("labs/good.yaml"));
  });

  it("loads the demo batch shipped in lab-config against the reference lab", async () => {
    const b = await loadBatch(path.join(repoRoot, "lab-config/batches/demo.yaml"));
    expect(b.lab.lab.name).to.equal("reference");
    expect(b.patches.length).to.be.greaterThan(0);
  });

  it("duplicate patch ids point at the second entry and name the first", async () => {
    const e = await onlyErrorOf(loadBatch(fixture("batches/duplicate-ids.yaml"), { configRoot: fixtureRoot }));
    expect(e.field).to.equal("patches[1]");
    expect(e.line).to.equal(6);
    expect(e.message).to.match(/duplicate patch id "PL-FIX-0001": .* and patches\[0\] \(line 5\)/);
    expect(e.remedy).to.match(/unique `id:`/);
  });

  it("a patch file that does not exist is an error at its entry", async () => {
    const e = await onlyErrorOf(loadBatch(fixture("batches/missing-patch.yaml"), { configRoot: fixtureRoot }));
    expect(e.field).to.equal("patches[1]");
    expect(e.line).to.equal(6);
    expect(e.message).to.include(`patch manifest not found: ${rel(fixture("patches/no-such-patch.yaml"))}`);
  });

  it("a patch that no machine of the lab receives is an error (it would verify nothing)", async () => {
    const e = await onlyErrorOf(loadBatch(fixture("batches/not-applicable.yaml"), { configRoot: fixtureRoot }));
    expect(e.field).to.equal("patches[1]");
    expect(e.message).to.match(/applies to roles \[ssh\] but no machine in lab 'small' plays any of them/);
  });

  it("reports problems of the batch, its lab reference and each patch file together", async () => {
    const errors = await configErrorsOf(loadBatch(fixture("batches/many-problems.yaml"), { configRoot: fixtureRoot }));
    const batchFile = rel(fixture("batches/many-problems.yaml"));
    expect(errors.map((e) => [e.file, e.field])).to.deep.equal([
      [batchFile, "lab"],
      [batchFile, "descripton"],
      [rel(fixture("patches/bad-fields.yaml")), "id"],
      [rel(fixture("patches/bad-fields.yaml")), "severity"],
      [rel(fixture("patches/bad-fields.yaml")), "appliesTo.roles"],
      [rel(fixture("patches/bad-fields.yaml")), "restrat"],
      [rel(fixture("patches/missing-deb.yaml")), "deb.file"],
    ]);
    expect(errors[0]!.message).to.match(/lab "no-such-lab" not found/);
    expect(errors[0]!.remedy).to.match(/^use one of: misnamed, small/);
  });
});
