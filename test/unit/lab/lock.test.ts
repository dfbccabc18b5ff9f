import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { expect } from "chai";
import { acquireLabLock } from "../../../harness/lab/lock.ts";
import { LabError } from "../../../harness/core/errors.ts";
import { ownerAlive, ownerToken } from "../../../harness/core/owner.ts";

describe("lab lock", () => {
  let dir: string;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "patchlab-lock-"));
    process.env.PATCHLAB_STATE_DIR = dir;
  });
  afterEach(() => {
    delete process.env.PATCHLAB_STATE_DIR;
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it("refuses a second holder while the first is alive, naming who holds it", () => {
    const l = acquireLabLock("ref", "run A");
    try {
      expect(() => acquireLabLock("ref", "run B")).to.throw(LabError, /in use by another patchlab process \(run A/);
    } finally {
      l.release();
    }
    acquireLabLock("ref", "run B").release();
  });

  it("takes over the lock of a process that is gone", () => {
    fs.mkdirSync(path.join(dir, "locks"), { recursive: true });
    // pid 2^22+1 exceeds Linux's pid_max: never a live process.
    const dead = `${ownerToken().split(":")[0]}:4194305`;
    expect(ownerAlive(dead)).to.equal(false);
    fs.writeFileSync(path.join(dir, "locks", "ref.lock"), JSON.stringify({ owner: dead, purpose: "killed run" }));
    const l = acquireLabLock("ref", "next");
    expect(JSON.parse(fs.readFileSync(path.join(dir, "locks", "ref.lock"), "utf8")).purpose).to.equal("next");
    l.release();
    expect(fs.existsSync(path.join(dir, "locks", "ref.lock"))).to.equal(false);
  });

  it("an owner from another boot is never alive", () => {
    expect(ownerAlive(`zzzzzzzz:${process.pid}`)).to.equal(false);
    expect(ownerAlive(ownerToken())).to.equal(true);
  });
});
