// Host tools run with a deadline: past it the tool and what it started are killed and the
// caller gets a LabError of kind "timeout" naming the tool. dpkg-deb and openssl go through it.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { expect } from "chai";
import { ChildFailed, runChild } from "../../../harness/core/child.ts";
import { LabError } from "../../../harness/core/errors.ts";
import { prepareDeb } from "../../../harness/patch/deb.ts";
import { labPki } from "../../../harness/lab/pki.ts";
import type { Lab } from "../../../harness/config/schemas.ts";
import type { Patch } from "../../../harness/config/schemas.ts";

/** Running (a zombie waiting for a parent that does not reap it counts as gone). */
const alive = (pid: number) => {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2)[0] !== "Z";
  } catch {
    return false;
  }
};

describe("child processes with deadlines", () => {
  let dir: string;
  beforeEach(() => (dir = fs.mkdtempSync(path.join(os.tmpdir(), "patchlab-child-"))));
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it("kills a tool past its deadline, with what it started, and says timeout", async () => {
    const pidFile = path.join(dir, "grandchild.pid");
    const t0 = Date.now();
    const e = await runChild("sh", ["-c", `sleep 30 & echo $! > ${pidFile}; wait`], { timeoutMs: 300, what: "a stuck tool", timeoutRemedy: "raise it" }).catch((x: unknown) => x);
    expect(Date.now() - t0).to.be.lessThan(3000);
    expect(e).to.be.instanceOf(LabError);
    expect((e as LabError).kind).to.equal("timeout");
    expect((e as LabError).message).to.match(/^a stuck tool did not finish within 300 ms and was killed \(sh -c/);
    expect((e as LabError).remedy).to.equal("raise it");
    const grandchild = Number(fs.readFileSync(pidFile, "utf8"));
    await new Promise((r) => setTimeout(r, 100));
    expect(alive(grandchild), "the tool's own child was killed too").to.equal(false);
  });

  it("reports a non-zero exit with its output, and a missing tool as ENOENT", async () => {
    const e = await runChild("sh", ["-c", "echo nope >&2; exit 4"], { timeoutMs: 5000, what: "x", timeoutRemedy: "y" }).catch((x: unknown) => x);
    expect(e).to.be.instanceOf(ChildFailed);
    expect((e as ChildFailed).result).to.deep.include({ code: 4, stderr: "nope\n" });
    const missing = await runChild("patchlab-no-such-tool", [], { timeoutMs: 5000, what: "x", timeoutRemedy: "y" }).catch((x: NodeJS.ErrnoException) => x.code);
    expect(missing).to.equal("ENOENT");
  });

  /** A PATH whose `name` hangs, so the real call sites are shown to use the deadline. */
  function hangingTool(name: string): string {
    const bin = path.join(dir, "bin");
    fs.mkdirSync(bin, { recursive: true });
    fs.writeFileSync(path.join(bin, name), "#!/bin/sh\nsleep 30\n", { mode: 0o755 });
    return `${bin}:${process.env.PATH}`;
  }

  function withEnv<T>(env: Record<string, string>, fn: () => Promise<T>): Promise<T> {
    const saved = Object.fromEntries(Object.keys(env).map((k) => [k, process.env[k]]));
    Object.assign(process.env, env);
    return fn().finally(() => {
      for (const [k, v] of Object.entries(saved)) if (v === undefined) delete process.env[k]; else process.env[k] = v;
    });
  }

  it("prepareDeb: a hanging dpkg-deb is a timeout (lab trouble), and leaves no run directory", async () => {
    const tree = path.join(dir, "pkg");
    fs.mkdirSync(path.join(tree, "DEBIAN"), { recursive: true });
    fs.writeFileSync(path.join(tree, "DEBIAN/control"), "Package: x\nVersion: 1\nArchitecture: all\nMaintainer: x <x@example.test>\nDescription: x\n");
    const patch = { id: "T-1", kind: "deb", deb: { build: "pkg" } } as unknown as Patch;
    const work = path.join(dir, "run/patches");
    const e = await withEnv({ PATH: hangingTool("dpkg-deb"), PATCHLAB_TIMEOUT_DPKG_DEB_MS: "300" }, () => prepareDeb(patch, path.join(dir, "p.yaml"), work).catch((x: unknown) => x));
    expect((e as LabError).kind).to.equal("timeout");
    expect((e as LabError).message).to.match(/dpkg-deb for .* did not finish within 300 ms/);
    expect((e as LabError).remedy).to.match(/PATCHLAB_TIMEOUT_DPKG_DEB_MS/);
    expect(fs.existsSync(path.join(dir, "run"))).to.equal(false);
  });

  it("the lab CA: a hanging openssl is a timeout naming the remedy", async () => {
    const lab = { name: "t" } as Lab;
    const e = await withEnv({ PATH: hangingTool("openssl").replace(/:.*$/, "") + ":/usr/bin:/bin", PATCHLAB_TIMEOUT_OPENSSL_MS: "300" }, async () => {
      // `openssl version` (the presence check) must answer: let the fake answer that one at once.
      fs.writeFileSync(path.join(dir, "bin/openssl"), '#!/bin/sh\n[ "$1" = version ] && exit 0\nsleep 30\n', { mode: 0o755 });
      return labPki(path.join(dir, "state"), lab).catch((x: unknown) => x);
    });
    expect((e as LabError).kind).to.equal("timeout");
    expect((e as LabError).message).to.match(/openssl req did not finish within 300 ms/);
  });
});
