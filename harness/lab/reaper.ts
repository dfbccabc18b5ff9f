// The reaper cleans up after patchlab processes that died (killed, crashed, power loss):
// every lab object carries its owner's token, and an object whose owner is gone is either
// put back (a persistent lab machine restored from the run's pre-run snapshot) or removed
// (machines and networks of an ephemeral run). It runs at the start of every command.
import fs from "node:fs";
import path from "node:path";
import type Docker from "dockerode";
import { ownerAlive } from "../core/owner.ts";
import { reportsRoot } from "../core/paths.ts";
import type { Logger } from "../core/log.ts";
import { nullLogger } from "../core/log.ts";
import { Labels } from "./drivers/docker-engine.ts";
import type { DockerDriver } from "./drivers/docker-driver.ts";

export interface ReapReport {
  restored: { machine: string; container: string; run: string }[];
  removedContainers: string[];
  removedNetworks: string[];
  removedSnapshots: number;
}

export interface ReapOptions {
  /** Also treat this owner as gone: a process cleaning up after itself on SIGINT/SIGTERM. */
  owner?: string;
}

export async function reap(docker: Docker, driver: DockerDriver, log: Logger = nullLogger, opts: ReapOptions = {}): Promise<ReapReport> {
  const isDead = (labels: Record<string, string> | undefined) => {
    const owner = labels?.[Labels.owner];
    return !!owner && owner !== "none" && (owner === opts.owner || !ownerAlive(owner));
  };
  const report: ReapReport = { restored: [], removedContainers: [], removedNetworks: [], removedSnapshots: 0 };

  // 1. Machines of dead ephemeral runs: remove (their snapshots go in step 2).
  const containers = await docker.listContainers({ all: true, filters: { label: [`${Labels.managed}=true`, "patchlab.ephemeral=true"] } });
  for (const c of containers.filter((c) => isDead(c.Labels))) {
    await docker.getContainer(c.Id).remove({ force: true }).catch(() => undefined);
    report.removedContainers.push(c.Names[0]?.replace(/^\//, "") ?? c.Id);
  }
  const ephemeralRunsGone = new Set(containers.filter((c) => isDead(c.Labels)).map((c) => c.Labels[Labels.run]));

  // 2. Pre-run snapshots of dead runs: restore the machine they were taken of, then delete them.
  const snaps = await docker.listImages({ filters: { label: [`${Labels.kind}=snapshot`] } });
  // Only tagged snapshots: an untagged one was deleted and merely backs a restored machine.
  const dead = snaps.filter((i) => isDead(i.Labels) && (i.RepoTags ?? []).some((t) => t.startsWith("patchlab-snap/")));
  for (const img of dead) {
    const machine = img.Labels[Labels.machine] ?? "?";
    const run = img.Labels[Labels.run] ?? "?";
    const createOpts = img.Labels[Labels.createOptions];
    const wasEphemeral =
      ephemeralRunsGone.has(run) ||
      (createOpts ? Buffer.from(createOpts, "base64").toString("utf8").includes('"patchlab.ephemeral":"true"') : false);
    if (!wasEphemeral) {
      try {
        const container = await driver.restoreFromImage(img.Id, machine);
        report.restored.push({ machine, container, run });
        log.warn("restored machine left patched by an interrupted run", { machine, run });
        noteInterrupted(run, `machine ${machine} restored from its pre-run snapshot by the reaper`);
      } catch (e) {
        // Keep the snapshot: it is the only way back. The next reap tries again.
        log.error("could not restore machine of interrupted run; snapshot kept", { machine, run, error: (e as Error).message });
        continue;
      }
    } else {
      noteInterrupted(run, `ephemeral machine ${machine} removed by the reaper`);
    }
    for (const tag of img.RepoTags ?? []) await docker.getImage(tag).remove({ force: true }).catch(() => undefined);
    report.removedSnapshots++;
  }

  await driver.pruneSnapshots();

  // 3. Networks of dead ephemeral runs (after their containers are gone).
  const nets = await docker.listNetworks({ filters: { label: [`${Labels.managed}=true`, "patchlab.ephemeral=true"] } });
  for (const n of nets.filter((n) => isDead(n.Labels))) {
    try {
      await docker.getNetwork(n.Id).remove();
      report.removedNetworks.push(n.Name);
    } catch {
      /* still in use by a live lab that took the same name: leave it */
    }
  }
  return report;
}

/** Mark the interrupted run's report so a reader knows why it is incomplete. Never overwrites results. */
function noteInterrupted(runId: string, what: string): void {
  const dir = path.join(reportsRoot(), runId);
  if (!fs.existsSync(dir)) return;
  fs.appendFileSync(path.join(dir, "interrupted.log"), `${new Date().toISOString()} ${what}\n`);
}
