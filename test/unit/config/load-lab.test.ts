// Good labs load into typed objects, by path or by name, from the right config root.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { expect } from "chai";
import { listLabs, loadLab, resolveConfigRoot } from "../../../harness/config/loader.ts";
import { configErrorsOf, fixture, fixtureRoot, onlyErrorOf, repoRoot } from "./helpers.ts";

describe("config: loading labs", () => {
  it("loads the built-in reference lab by name with one machine per role it ships", async () => {
    const { lab, file } = await loadLab("reference");
    expect(file).to.equal(path.join(repoRoot, "lab-config/labs/reference.yaml"));
    expect(lab.name).to.equal("reference");
    expect(lab.machines.map((m) => m.name)).to.include.members(["web", "dns", "db", "file", "app", "client"]);
    expect(lab.machines.find((m) => m.name === "app")!.applications).to.deep.equal(["dokuwiki"]);
  });

  it("loads a lab by path, fills defaults and returns the absolute file", async () => {
    const { lab, file } = await loadLab(path.relative(process.cwd(), fixture("labs/good.yaml")), { configRoot: fixtureRoot });
    expect(file).to.equal(fixture("labs/good.yaml"));
    expect(lab.machines).to.have.length(2);
    expect(lab.machines[0]!.applications).to.deep.equal([]); // default
    expect(lab.machines[0]!.ip).to.equal("172.30.99.20");
    expect(lab).to.not.have.property("file"); // provenance stays out of the lab value
  });

  it("resolves a lab name under the configRoot option", async () => {
    const { lab, file } = await loadLab("small", { configRoot: fixtureRoot });
    expect(lab.name).to.equal("small");
    expect(file).to.equal(path.join(fixtureRoot, "labs/small.yaml"));
  });

  it("resolves a lab name under $PATCHLAB_CONFIG_ROOT when no option is given", async () => {
    const saved = process.env["PATCHLAB_CONFIG_ROOT"];
    process.env["PATCHLAB_CONFIG_ROOT"] = fixtureRoot;
    try {
      expect(resolveConfigRoot()).to.equal(fixtureRoot);
      const { lab } = await loadLab("small");
      expect(lab.name).to.equal("small");
    } finally {
      if (saved === undefined) delete process.env["PATCHLAB_CONFIG_ROOT"];
      else process.env["PATCHLAB_CONFIG_ROOT"] = saved;
    }
  });

  it("an unknown lab name is a ConfigError whose remedy lists the labs available", async () => {
    const e = await onlyErrorOf(loadLab("no-such-lab", { configRoot: fixtureRoot }));
    expect(e.message).to.match(/labs\/no-such-lab\.yaml: lab not found$/);
    expect(e.remedy).to.match(/^use one of: misnamed, small /);
    expect(listLabs(fixtureRoot)).to.deep.equal(["misnamed", "small"]);
  });

  it("a lab under labs/ must carry its file's name, so `lab up <name>` finds what it names", async () => {
    const e = await onlyErrorOf(loadLab("misnamed", { configRoot: fixtureRoot }));
    expect(e.field).to.equal("name");
    expect(e.line).to.equal(2);
    expect(e.message).to.match(/lab name "other" differs from its file name "misnamed"/);
    expect(e.remedy).to.match(/`name: misnamed`/);
  });

  it("a directory given as the lab file is a clear error", async () => {
    const e = await onlyErrorOf(loadLab(fixture("labs"), { configRoot: fixtureRoot }));
    expect(e.message).to.match(/is a directory, not a lab$/);
  });

  it("with no image recipes at all the remedy says so instead of listing nothing", async () => {
    const emptyRoot = fs.mkdtempSync(path.join(os.tmpdir(), "patchlab-config-"));
    try {
      const errors = await configErrorsOf(loadLab(fixture("labs/good.yaml"), { configRoot: emptyRoot }));
      expect(errors.map((e) => e.field)).to.deep.equal(["machines[0].image", "machines[1].image"]);
      expect(errors[0]!.remedy).to.match(/no image recipes exist under .*images\/ yet/);
    } finally {
      fs.rmSync(emptyRoot, { recursive: true, force: true });
    }
  });
});
