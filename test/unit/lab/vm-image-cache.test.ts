// VM images are cached by recipe content like the container images: the hash moves with any
// byte of the recipe, a build is found by one manifest, and stale builds go unless a VM's
// overlay still builds on them.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { expect } from "chai";
import { ConfigError } from "../../../harness/core/errors.ts";
import { readVmRecipe, removeStaleVmImages, vmImageStatus, vmRecipeHash } from "../../../harness/lab/drivers/vm/image.ts";

describe("vm driver: image cache by recipe hash", () => {
  let root: string;
  const saved = { images: process.env.PATCHLAB_IMAGES_DIR, state: process.env.PATCHLAB_STATE_DIR, cache: process.env.PATCHLAB_VM_IMAGE_CACHE };
  const recipe = () => path.join(root, "images", "vm", "web");

  beforeEach(() => {
    root = fs.mkdtempSync(path.join(os.tmpdir(), "patchlab-vmimg-"));
    fs.cpSync("lab-config/images/vm/web", recipe(), { recursive: true });
    process.env.PATCHLAB_IMAGES_DIR = path.join(root, "images");
    process.env.PATCHLAB_STATE_DIR = path.join(root, "state");
    process.env.PATCHLAB_VM_IMAGE_CACHE = path.join(root, "vm-images");
  });
  afterEach(() => {
    for (const [k, v] of [["PATCHLAB_IMAGES_DIR", saved.images], ["PATCHLAB_STATE_DIR", saved.state], ["PATCHLAB_VM_IMAGE_CACHE", saved.cache]] as const) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
    fs.rmSync(root, { recursive: true, force: true });
  });

  it("the committed recipe parses, with a kernel, an initramfs tool and sshd", () => {
    const r = readVmRecipe("web");
    expect(r.include).to.include.members(["linux-image-amd64", "initramfs-tools", "openssh-server", "systemd-sysv"]);
    expect(r.mirror).to.equal("http://deb.debian.org/debian");
    expect(r.cmdline).to.match(/root=\/dev\/vda/);
  });

  it("changes its hash with one byte of any recipe file or an executable bit", async () => {
    const h0 = await vmRecipeHash("web");
    fs.appendFileSync(path.join(recipe(), "rootfs/etc/ssh/sshd_config.d/patchlab.conf"), "\n");
    const h1 = await vmRecipeHash("web");
    expect(h1).to.not.equal(h0);
    fs.chmodSync(path.join(recipe(), "setup.sh"), 0o644);
    expect(await vmRecipeHash("web")).to.not.equal(h1);
  });

  it("an unknown recipe is a ConfigError naming the recipes there are", async () => {
    try {
      await vmRecipeHash("nginx");
      expect.fail("must throw");
    } catch (e) {
      expect(e).to.be.instanceOf(ConfigError);
      expect((e as ConfigError).remedy).to.match(/one of: web/);
    }
  });

  it("finds a complete build by its manifest, and removes stale builds no VM uses", async () => {
    const st = await vmImageStatus("web");
    expect(st.image).to.equal(undefined);
    const fake = (dir: string) => {
      fs.mkdirSync(dir, { recursive: true });
      for (const f of ["base.qcow2", "vmlinuz", "initrd.img"]) fs.writeFileSync(path.join(dir, f), "x");
      fs.writeFileSync(path.join(dir, "manifest.json"), JSON.stringify({ name: "web", hash: "h", cmdline: "c", hostKeys: ["ssh-ed25519 AAAA"], builtAt: "t", buildSeconds: 1 }));
    };
    fake(st.dir);
    expect((await vmImageStatus("web")).image?.disk).to.equal(path.join(st.dir, "base.qcow2"));
    const cache = path.dirname(st.dir);
    fake(path.join(cache, "web-000000000000"));
    fake(path.join(cache, "web-111111111111"));
    // A stopped VM still builds on the second one.
    const vm = path.join(root, "state", "vms", "lab", "web");
    fs.mkdirSync(vm, { recursive: true });
    fs.writeFileSync(path.join(vm, "vm.json"), JSON.stringify({ imageDir: path.join(cache, "web-111111111111") }));
    expect(await removeStaleVmImages(["web"])).to.deep.equal({ removed: ["web-000000000000"], kept: ["web-111111111111"] });
    expect(fs.existsSync(st.dir)).to.equal(true);
  });
});
