// One patchlab process per lab at a time: two runs restoring the same machines would
// each undo the other's work. The lock names its owner so a dead owner's lock is taken over.
import fs from "node:fs";
import path from "node:path";
import { LabError } from "../core/errors.ts";
import { ownerAlive, ownerToken } from "../core/owner.ts";
import { stateDir } from "../core/paths.ts";

export interface LabLock {
  release(): void;
}

export function acquireLabLock(lab: string, purpose: string): LabLock {
  const dir = path.join(stateDir(), "locks");
  fs.mkdirSync(dir, { recursive: true });
  const file = path.join(dir, `${lab}.lock`);
  const me = ownerToken();
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      fs.writeFileSync(file, JSON.stringify({ owner: me, purpose, since: new Date().toISOString() }), { flag: "wx" });
      return {
        release() {
          try {
            const held = JSON.parse(fs.readFileSync(file, "utf8")) as { owner: string };
            if (held.owner === me) fs.unlinkSync(file);
          } catch { /* already gone */ }
        },
      };
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e;
      let held: { owner?: string; purpose?: string; since?: string } = {};
      try { held = JSON.parse(fs.readFileSync(file, "utf8")); } catch { /* torn write: treat as stale */ }
      if (held.owner && ownerAlive(held.owner)) {
        throw new LabError(
          "busy",
          `lab ${lab} is in use by another patchlab process (${held.purpose ?? "?"}, pid ${held.owner.split(":")[1]}, since ${held.since ?? "?"})`,
          "wait for it to finish, or stop it; a killed process's lock is taken over automatically",
        );
      }
      fs.rmSync(file, { force: true });
    }
  }
  throw new LabError("busy", `could not take the lock for lab ${lab}`, `remove ${file} if no patchlab process is running`);
}
