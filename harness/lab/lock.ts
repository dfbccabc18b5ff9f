// One patchlab process per lab at a time: two runs restoring the same machines would each
// undo the other's work. The lock file names its holder (host, pid, run, since); it is
// written whole to a temporary file and linked into place, so it is never seen half-written.
// It is taken over only when the holder is provably dead: same host, and that process is
// gone (or the host rebooted since). A lock file that cannot be read is reported, never
// guessed stale: guessing wrong means two runs on one lab.
import { randomBytes } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { z } from "zod";
import { LabError } from "../core/errors.ts";
import { ownerToken } from "../core/owner.ts";
import { stateDir } from "../core/paths.ts";

export const LockHolder = z
  .object({
    host: z.string().min(1),
    bootId: z.string().min(1),
    pid: z.number().int().positive(),
    /** Start time of the holder process (clock ticks since boot, /proc/<pid>/stat): a reused pid does not match. */
    pidStart: z.string().optional(),
    run: z.string().optional(),
    purpose: z.string(),
    since: z.string(),
    nonce: z.string().min(8),
    /** "<boot>:<pid>", what lock readers before this format look at to see the holder alive. */
    owner: z.string().optional(),
  })
  .strict();
export type LockHolder = z.infer<typeof LockHolder>;

/** The lock format before holders were named in full (still written by older checkouts sharing the state dir). */
const LegacyLock = z.object({ owner: z.string().regex(/^[^:]+:\d+$/), purpose: z.string().optional(), since: z.string().optional() });

export interface LabLock {
  readonly file: string;
  readonly holder: LockHolder;
  release(): void;
}

export function lockFileFor(lab: string): string {
  return path.join(stateDir(), "locks", `${lab}.lock`);
}

let boot: string | undefined;
export function bootId(): string {
  boot ??= readOr("/proc/sys/kernel/random/boot_id", "noboot").trim();
  return boot;
}

/** Field 22 of /proc/<pid>/stat (after the parenthesised command name, which may hold spaces). */
export function processStart(pid: number): string | undefined {
  const stat = readOr(`/proc/${pid}/stat`, "");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return fields[19] || undefined;
}

export type Liveness = { alive: true } | { alive: false; why: string } | { alive: "unknown"; why: string };

/** Whether the holder is alive; "unknown" when that cannot be proven either way (another host). */
export function holderLiveness(h: LockHolder): Liveness {
  if (h.host !== os.hostname()) return { alive: "unknown", why: `it is held from another host (${h.host}), whose processes this host cannot see` };
  if (h.bootId !== bootId() && h.bootId !== bootId().slice(0, 8)) return { alive: false, why: "the host rebooted since it was taken" };
  try {
    process.kill(h.pid, 0);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== "EPERM") return { alive: false, why: `process ${h.pid} is gone` };
  }
  const start = processStart(h.pid);
  if (h.pidStart && start && start !== h.pidStart) return { alive: false, why: `process ${h.pid} is gone (the pid now belongs to another process)` };
  return { alive: true };
}

export function describeHolder(h: LockHolder): string {
  return `${h.purpose}${h.run ? `, run ${h.run}` : ""}, pid ${h.pid} on ${h.host}, since ${h.since}`;
}

/**
 * Take the lab's lock or throw LabError "busy" naming who holds it. `run`: the run id the
 * holder works for, shown to whoever finds the lab busy.
 */
export function acquireLabLock(lab: string, purpose: string, opts: { run?: string } = {}): LabLock {
  const file = lockFileFor(lab);
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const me: LockHolder = {
    host: os.hostname(),
    bootId: bootId(),
    pid: process.pid,
    ...(processStart(process.pid) ? { pidStart: processStart(process.pid)! } : {}),
    ...(opts.run ? { run: opts.run } : {}),
    purpose,
    since: new Date().toISOString(),
    nonce: randomBytes(8).toString("hex"),
    owner: ownerToken(),
  };
  const text = JSON.stringify(me, null, 2) + "\n";
  for (let attempt = 0; attempt < 5; attempt++) {
    if (linkInPlace(file, text)) {
      return { file, holder: me, release: () => releaseIfMine(file, me.nonce) };
    }
    const held = readHolder(file);
    if (held === "gone") continue; // released between our link and our read: try again
    if ("unreadable" in held) {
      throw new LabError(
        "busy",
        `the lock of lab ${lab} (${file}) cannot be read (${held.unreadable}); it is not taken as stale, since its holder may be running`,
        `if no patchlab process uses lab ${lab} (\`pgrep -af patchlab\` on every host sharing ${stateDir()}), delete ${file} and retry`,
      );
    }
    const live = holderLiveness(held.holder);
    if (live.alive === true) {
      throw new LabError("busy", `lab ${lab} is in use by another patchlab process (${describeHolder(held.holder)})`, `wait for it to finish, or stop it (kill ${held.holder.pid}); a killed process's lock is taken over automatically`);
    }
    if (live.alive === "unknown") {
      throw new LabError(
        "busy",
        `lab ${lab} is locked (${describeHolder(held.holder)}) and ${live.why}`,
        `if that process is no longer running on ${held.holder.host}, delete ${file} and retry`,
      );
    }
    takeOver(file, held.text);
  }
  throw new LabError("busy", `could not take the lock of lab ${lab}: other processes keep taking it`, `retry in a moment; the lock file is ${file}`);
}

/** Write `text` to a private temporary file, then link it to `file`: all or nothing, and only if absent. */
function linkInPlace(file: string, text: string): boolean {
  const tmp = `${file}.${process.pid}.${randomBytes(4).toString("hex")}.tmp`;
  const fd = fs.openSync(tmp, "wx", 0o644);
  try {
    fs.writeFileSync(fd, text);
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  try {
    fs.linkSync(tmp, file);
    return true;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "EEXIST") return false;
    throw e;
  } finally {
    fs.rmSync(tmp, { force: true });
  }
}

type Held = { holder: LockHolder; text: string } | { unreadable: string } | "gone";

function readHolder(file: string): Held {
  let text: string;
  try {
    text = fs.readFileSync(file, "utf8");
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return "gone";
    return { unreadable: (e as Error).message };
  }
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch {
    return { unreadable: text.trim() === "" ? "it is empty" : "it is not complete JSON (a torn or corrupted write)" };
  }
  const r = LockHolder.safeParse(data);
  const legacy = r.success ? undefined : LegacyLock.safeParse(data);
  if (legacy?.success) {
    // Older checkouts on this host wrote only "<boot>:<pid>".
    const [boot, pid] = legacy.data.owner.split(":");
    return { holder: { host: os.hostname(), bootId: boot!, pid: Number(pid), purpose: legacy.data.purpose ?? "?", since: legacy.data.since ?? "?", nonce: "legacy-lock" }, text };
  }
  if (!r.success) return { unreadable: `it does not name a holder: ${r.error.issues.map((i) => `${i.path.join(".") || "(root)"}: ${i.message}`).join("; ")}` };
  return { holder: r.data, text };
}

/**
 * Move the dead holder's file aside (rename is atomic: of several processes, one moves it),
 * and delete it only if it is the very file judged dead; a fresh lock moved by mistake goes back.
 */
function takeOver(file: string, deadText: string): void {
  const aside = `${file}.stale.${process.pid}.${randomBytes(4).toString("hex")}`;
  try {
    fs.renameSync(file, aside);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return; // another process took it over first
    throw e;
  }
  const moved = readOr(aside, "");
  if (moved === deadText) {
    fs.rmSync(aside, { force: true });
    return;
  }
  try {
    fs.linkSync(aside, file);
  } catch {
    /* a newer lock is in place: it wins */
  }
  fs.rmSync(aside, { force: true });
}

function releaseIfMine(file: string, nonce: string): void {
  const held = readHolder(file);
  if (held !== "gone" && "holder" in held && held.holder.nonce === nonce) fs.rmSync(file, { force: true });
}

function readOr(file: string, fallback: string): string {
  try {
    return fs.readFileSync(file, "utf8");
  } catch {
    return fallback;
  }
}
