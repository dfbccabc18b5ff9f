// `patchlab doctor` reports; only `--fix` changes anything.
import fs from "node:fs";
import path from "node:path";
import { expect } from "chai";
import { repoRoot } from "../../harness/core/paths.ts";
import { cli, docker, tmpDir } from "./support.ts";

describe("patchlab doctor", function () {
  it("on a set-up machine reports every check ok, quickly", async function () {
    const r = await cli(["doctor", "--json"]);
    expect(r.code, r.stdout + r.stderr).to.equal(0);
    const checks = JSON.parse(r.stdout) as { name: string; ok: boolean }[];
    expect(checks.map((c) => c.name)).to.include.members(["docker engine", "lab images", "chromium", "java"]);
    expect(checks.filter((c) => !c.ok)).to.deep.equal([]);
    console.log(`      doctor on a ready machine: ${r.ms} ms`);
  });

  it("without --fix, reports an image whose recipe changed as missing and builds nothing (exit 2)", async function () {
    const images = tmpDir("doctor-images");
    fs.cpSync(path.join(repoRoot, "lab-config/images"), images, { recursive: true, verbatimSymlinks: true });
    fs.appendFileSync(path.join(images, "web", "Dockerfile"), "\n# changed by the doctor self-test\n");
    const before = (await docker.listImages()).length;
    const r = await cli(["doctor"], { env: { PATCHLAB_IMAGES_DIR: images } });
    expect(r.code).to.equal(2);
    expect(r.stdout).to.match(/MISS lab images +not built for the current recipe: web\b/);
    expect(r.stdout).to.match(/remedy: run `patchlab doctor --fix`/);
    expect((await docker.listImages()).length).to.equal(before);
  });
});
