// An image's tag is its recipe's content: the same bytes give the same tag, one changed byte
// (in the recipe or in the base it builds on) gives a new one.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { expect } from "chai";
import { ConfigError } from "../../core/errors.ts";
import { imageTag, recipeFiles, recipeHash, imagesDir } from "./recipes.ts";

const ALL = ["base", "web", "dns", "db", "file", "app", "client"];

describe("images: recipe hash and tag", () => {
  let root: string;
  beforeEach(() => {
    root = fs.mkdtempSync(path.join(os.tmpdir(), "patchlab-recipes-"));
    fs.cpSync(imagesDir(), root, { recursive: true, verbatimSymlinks: true });
  });
  afterEach(() => fs.rmSync(root, { recursive: true, force: true }));

  it("every shipped image has a recipe and a tag patchlab/<name>:<12 hex>", async () => {
    for (const name of ALL) {
      expect(await imageTag(name)).to.match(new RegExp(`^patchlab/${name}:[0-9a-f]{12}$`));
      expect(await recipeHash(name)).to.match(/^[0-9a-f]{64}$/);
    }
  });

  it("a copy of the recipes hashes the same as the original", async () => {
    for (const name of ALL) expect(await recipeHash(name, { imagesDir: root })).to.equal(await recipeHash(name));
  });

  it("changing one byte of a role recipe changes that image's tag only", async () => {
    const before = await Promise.all(ALL.map((n) => imageTag(n, { imagesDir: root })));
    const file = path.join(root, "web/rootfs/var/www/patchlab/index.html");
    const content = fs.readFileSync(file);
    content[content.length - 2] = content[content.length - 2]! ^ 1;
    fs.writeFileSync(file, content);
    const after = await Promise.all(ALL.map((n) => imageTag(n, { imagesDir: root })));
    ALL.forEach((n, i) => {
      if (n === "web") expect(after[i], n).to.not.equal(before[i]);
      else expect(after[i], n).to.equal(before[i]);
    });
  });

  it("changing the base recipe changes every image's tag", async () => {
    const before = await Promise.all(ALL.map((n) => imageTag(n, { imagesDir: root })));
    fs.appendFileSync(path.join(root, "base/recipe.yaml"), "\n");
    const after = await Promise.all(ALL.map((n) => imageTag(n, { imagesDir: root })));
    ALL.forEach((n, i) => expect(after[i], n).to.not.equal(before[i]));
  });

  it("adding a file, renaming one or flipping its executable bit changes the hash", async () => {
    const h0 = await recipeHash("client", { imagesDir: root });
    fs.writeFileSync(path.join(root, "client/extra"), "x");
    const h1 = await recipeHash("client", { imagesDir: root });
    fs.renameSync(path.join(root, "client/extra"), path.join(root, "client/extra2"));
    const h2 = await recipeHash("client", { imagesDir: root });
    fs.chmodSync(path.join(root, "client/extra2"), 0o755);
    const h3 = await recipeHash("client", { imagesDir: root });
    expect(new Set([h0, h1, h2, h3]).size).to.equal(4);
  });

  it("files are listed sorted by path, the base recipe includes patchlab-init and the runlevel helper", async () => {
    const files = (await recipeFiles("base")).map((f) => f.rel);
    expect(files).to.deep.equal([...files].sort());
    expect(files).to.include.members(["recipe.yaml", "setup.sh", "rootfs/usr/local/sbin/patchlab-init", "rootfs/usr/sbin/runlevel", "rootfs/usr/sbin/init"]);
  });

  it("an unknown image is a ConfigError naming the images that exist", async () => {
    const err = await recipeHash("nosuch", { imagesDir: root }).then(() => undefined, (e: unknown) => e);
    expect(err).to.be.instanceOf(ConfigError);
    expect((err as ConfigError).message).to.contain("nosuch");
    expect((err as ConfigError).remedy).to.contain("web");
  });

  it("the recipes root can be set with PATCHLAB_IMAGES_DIR", async () => {
    const saved = process.env.PATCHLAB_IMAGES_DIR;
    process.env.PATCHLAB_IMAGES_DIR = root;
    try {
      fs.appendFileSync(path.join(root, "dns/Dockerfile"), "\n");
      expect(await recipeHash("dns")).to.equal(await recipeHash("dns", { imagesDir: root }));
    } finally {
      if (saved === undefined) delete process.env.PATCHLAB_IMAGES_DIR;
      else process.env.PATCHLAB_IMAGES_DIR = saved;
    }
    expect(await recipeHash("dns")).to.not.equal(await recipeHash("dns", { imagesDir: root }));
  });
});
