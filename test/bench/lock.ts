// The team's Docker lock (/tmp/patchlab-docker.lock, flock): only one Docker-heavy thing at a
// time on a shared host. The bench holds it one section at a time (each well under ten
// minutes), so others get their turn between sections and its figures are not skewed by
// someone else's containers. PATCHLAB_DOCKER_LOCK=none skips it (a machine of your own).
import { spawn } from "node:child_process";

const LOCK = process.env.PATCHLAB_DOCKER_LOCK ?? "/tmp/patchlab-docker.lock";

/** Holds of this process: a hold taken inside another is the outer one's (reentrant). */
let depth = 0;

/** Runs `fn` holding the lock; returns its result and how long the lock took to get. */
export async function withDockerLock<T>(what: string, fn: () => Promise<T>): Promise<T> {
  if (LOCK === "none") return fn();
  if (depth > 0) {
    depth++;
    try {
      return await fn();
    } finally {
      depth--;
    }
  }
  const asked = Date.now();
  // flock holds the lock for as long as `cat` runs, i.e. until we close its stdin.
  const holder = spawn("flock", [LOCK, "sh", "-c", "echo held; exec cat >/dev/null"], { stdio: ["pipe", "pipe", "inherit"] });
  await new Promise<void>((resolve, reject) => {
    holder.once("error", reject);
    holder.once("exit", (code) => reject(new Error(`flock ${LOCK} exited ${code} before the lock was held`)));
    holder.stdout.once("data", () => resolve());
  });
  holder.removeAllListeners("exit");
  const waited = Date.now() - asked;
  console.log(`[bench] ${what}: Docker lock held${waited > 1000 ? ` (waited ${(waited / 1000).toFixed(0)} s)` : ""}`);
  const started = Date.now();
  depth++;
  try {
    return await fn();
  } finally {
    depth--;
    holder.stdin.end();
    await new Promise((r) => holder.once("close", r));
    console.log(`[bench] ${what}: Docker lock released after ${((Date.now() - started) / 1000).toFixed(0)} s`);
  }
}
