// One place that knows how to reach the Docker engine, so "engine down" is always the
// same typed error with the same remedy.
import Docker from "dockerode";
import { LabError } from "../../core/errors.ts";

let cached: Docker | undefined;

export function docker(): Docker {
  cached ??= new Docker(); // honours DOCKER_HOST, else /var/run/docker.sock
  return cached;
}

export async function engineAnswers(d: Docker = docker(), timeoutMs = 3000): Promise<boolean> {
  try {
    await Promise.race([
      d.ping(),
      new Promise((_, reject) => setTimeout(() => reject(new Error("timeout")), timeoutMs)),
    ]);
    return true;
  } catch {
    return false;
  }
}

export async function requireEngine(d: Docker = docker()): Promise<Docker> {
  if (await engineAnswers(d)) return d;
  throw new LabError(
    "engine-unreachable",
    "no Docker engine answers on " + (process.env.DOCKER_HOST ?? "/var/run/docker.sock"),
    "run `npx patchlab doctor --fix` (as root on Debian it installs docker.io and starts dockerd), or start your engine",
  );
}

/** Labels every patchlab object carries, so the reaper can find what a run left behind. */
export const Labels = {
  managed: "patchlab.managed",
  lab: "patchlab.lab",
  machine: "patchlab.machine",
  run: "patchlab.run",
  owner: "patchlab.owner",
  roles: "patchlab.roles",
  kind: "patchlab.kind",
  snapshotLabel: "patchlab.snapshot",
  createOptions: "patchlab.create-options",
  recipeHash: "patchlab.recipe-hash",
} as const;
