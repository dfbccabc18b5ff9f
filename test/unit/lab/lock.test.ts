// The lab lock: written whole (temp file + link), names its holder, taken over only when the
// holder is provably dead on this host, and a lock file that cannot be read is reported with
// its path, never taken as stale.
import { spawn } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { expect } from "chai";
import { acquireLabLock, bootId, holderLiveness, lockFileFor, processStart, type LockHolder } from "../../../harness/lab/lock.ts";
import { LabError } from "../../../harness/core/errors.ts";
import { ownerAlive, ownerToken } from "../../../harness/core/owner.ts";
import { repoRoot } from "../../../harness/core/paths.ts";

// 2^22+1 exceeds Linux's pid_max: never a live process.
const DEAD_PID = 4194305;

function holder(over: Partial<LockHolder> = {}): LockHolder {
  return { host: os.hostname(), bootId: bootId(), pid: DEAD_PID, purpose: "killed run", run: "r-old", since: "2024-01-01T00:00:00.000Z", nonce: "0123456789abcdef", ...over };
}

function busyError(fn: () => unknown): LabError {
  try {
    fn();
  } catch (e) {
    expect(e).to.be.instanceOf(LabError);
    expect((e as LabError).kind).to.equal("busy");
    return e as LabError;
  }
  throw new Error("expected the lab to be busy");
}

describe("lab lock", () => {
  let dir: string;
  let file: string;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "patchlab-lock-"));
    process.env.PATCHLAB_STATE_DIR = dir;
    file = lockFileFor("ref");
    fs.mkdirSync(path.dirname(file), { recursive: true });
  });
  afterEach(() => {
    delete process.env.PATCHLAB_STATE_DIR;
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it("names its holder (host, pid, run, since) in the file and to whoever finds the lab busy", () => {
    const l = acquireLabLock("ref", "run A", { run: "20240101-a" });
    try {
      const written = JSON.parse(fs.readFileSync(file, "utf8")) as LockHolder;
      expect(written).to.include({ host: os.hostname(), pid: process.pid, run: "20240101-a", purpose: "run A" });
      expect(Date.parse(written.since)).to.be.closeTo(Date.now(), 5000);
      const e = busyError(() => acquireLabLock("ref", "run B"));
      expect(e.message).to.match(new RegExp(`in use by another patchlab process \\(run A, run 20240101-a, pid ${process.pid} on ${os.hostname()}, since \\d{4}-`));
      expect(e.remedy).to.match(new RegExp(`kill ${process.pid}`));
    } finally {
      l.release();
    }
    acquireLabLock("ref", "run B").release();
  });

  it("leaves no temporary file behind, and release removes only its own lock", () => {
    const l = acquireLabLock("ref", "mine");
    expect(fs.readdirSync(path.dirname(file))).to.deep.equal(["ref.lock"]);
    const theirs = JSON.stringify(holder({ pid: process.pid, nonce: "ffffffffffffffff", purpose: "someone else" }));
    fs.writeFileSync(file, theirs);
    l.release();
    expect(fs.readFileSync(file, "utf8")).to.equal(theirs);
  });

  it("takes over the lock of a process that is gone from this host", () => {
    fs.writeFileSync(file, JSON.stringify(holder()));
    const l = acquireLabLock("ref", "next");
    expect(JSON.parse(fs.readFileSync(file, "utf8")).purpose).to.equal("next");
    l.release();
    expect(fs.existsSync(file)).to.equal(false);
  });

  it("takes over a lock taken before the host rebooted", () => {
    fs.writeFileSync(file, JSON.stringify(holder({ pid: process.pid, bootId: "00000000-0000-0000-0000-000000000000" })));
    expect(holderLiveness(holder({ pid: process.pid, bootId: "00000000-0000-0000-0000-000000000000" }))).to.deep.include({ alive: false });
    acquireLabLock("ref", "after reboot").release();
  });

  it("takes over when the pid now belongs to another process (its start time differs)", () => {
    const reused = holder({ pid: process.pid, pidStart: "1" });
    expect(processStart(process.pid)).to.match(/^\d+$/).and.not.equal("1");
    expect(holderLiveness(reused)).to.deep.include({ alive: false });
    fs.writeFileSync(file, JSON.stringify(reused));
    acquireLabLock("ref", "after pid reuse").release();
  });

  it("does not take over a lock held from another host: it cannot prove that holder dead", () => {
    fs.writeFileSync(file, JSON.stringify(holder({ host: "other-runner-7" })));
    const e = busyError(() => acquireLabLock("ref", "here"));
    expect(e.message).to.match(/held from another host \(other-runner-7\)/);
    expect(e.remedy).to.include(file);
    expect(fs.existsSync(file)).to.equal(true);
  });

  for (const [what, content] of [
    ["torn (half-written JSON)", '{"host":"h","bootId":"b","pid":12'],
    ["empty", ""],
    ["holderless (JSON naming no holder)", '{"hello":"world"}'],
  ] as const) {
    it(`reports a ${what} lock file with its path and a remedy, and leaves it in place`, () => {
      fs.writeFileSync(file, content);
      const e = busyError(() => acquireLabLock("ref", "next"));
      expect(e.message).to.include(file).and.match(/cannot be read .* not taken as stale/);
      expect(e.remedy).to.match(/delete .*ref\.lock/);
      expect(fs.readFileSync(file, "utf8")).to.equal(content);
    });
  }

  it("reads the older lock format (owner token only): alive refuses, dead is taken over", () => {
    fs.writeFileSync(file, JSON.stringify({ owner: ownerToken(), purpose: "old checkout", since: "x" }));
    expect(busyError(() => acquireLabLock("ref", "new")).message).to.match(/old checkout/);
    fs.writeFileSync(file, JSON.stringify({ owner: `${ownerToken().split(":")[0]}:${DEAD_PID}`, purpose: "old killed" }));
    acquireLabLock("ref", "new").release();
  });

  it("of eight processes racing for a dead holder's lock, exactly one gets it", async function () {
    this.timeout(30_000);
    fs.writeFileSync(file, JSON.stringify(holder()));
    const worker = path.join(repoRoot, "test/unit/lab/lock-worker.ts");
    // Each racer reports its first line; the winner holds the lock until every racer has.
    const racers = Array.from({ length: 8 }, () =>
      spawn(process.execPath, ["--import", "tsx", worker, "ref", "60000"], { env: { ...process.env, PATCHLAB_STATE_DIR: dir }, stdio: ["ignore", "pipe", "inherit"] }),
    );
    let outs: string[];
    try {
      outs = await Promise.all(
        racers.map(
          (p) =>
            new Promise<string>((resolve, reject) => {
              let out = "";
              p.stdout!.on("data", (b) => {
                out += b;
                if (out.includes("\n")) resolve(out.trim());
              });
              p.on("error", reject);
              p.on("close", () => resolve(out.trim()));
            }),
        ),
      );
    } finally {
      for (const p of racers) p.kill("SIGKILL");
    }
    expect(outs.filter((o) => o === "got"), outs.join("\n")).to.have.length(1);
    for (const o of outs.filter((x) => x !== "got")) expect(o).to.match(/^busy lab ref is in use by another patchlab process \(racer \d+/);
  });

  it("an owner from another boot is never alive", () => {
    expect(ownerAlive(`zzzzzzzz:${process.pid}`)).to.equal(false);
    expect(ownerAlive(ownerToken())).to.equal(true);
  });
});
