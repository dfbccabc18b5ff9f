// The reaper cleans up after patchlab processes that died (killed, crashed, power loss):
// every lab object carries its owner's token, and an object whose owner is gone is either
// put back (a persistent lab machine restored from the run's pre-run snapshot) or removed
// (machines and networks of an ephemeral run). It runs at the start of every command, on
// every engine of the lab (a lab's sites may put its machines on several Docker engines).
import fs from "node:fs";
import path from "node:path";
import type Docker from "dockerode";
import { ownerAlive } from "../core/owner.ts";
import { reportsRoot } from "../core/paths.ts";
import { scrubTree } from "../core/redact.ts";
import type { Logger } from "../core/log.ts";
import { nullLogger } from "../core/log.ts";
import { Labels } from "./drivers/docker-engine.ts";
import { DockerDriver } from "./drivers/docker-driver.ts";
import type { Lab } from "../config/schemas.ts";
import { dockerFor, endpointOf, requireEngine } from "./drivers/docker-engine.ts";
import { enginesOf } from "./drivers/docker-engines.ts";
import { removeNetworkForce } from "./drivers/docker-network.ts";

export interface ReapFailure {
  what: "container" | "snapshot" | "network" | "restore";
  name: string;
  error: string;
}

export interface ReapReport {
  restored: { machine: string; container: string; run: string }[];
  removedContainers: string[];
  removedNetworks: string[];
  removedSnapshots: number;
  /** What could not be put back or removed: reported as failed, never as done. The next reap retries. */
  failed: ReapFailure[];
  /** Networks of dead runs still used by a live lab that took the same name: left alone on purpose. */
  kept: { network: string; reason: string }[];
}

export interface ReapOptions {
  /** Also treat this owner as gone: a process cleaning up after itself on SIGINT/SIGTERM. */
  owner?: string;
}

/**
 * Reap on each engine (each checked to answer first: an engine that does not is a LabError
 * naming it). Failures are named with their engine; the reports are merged.
 */
export async function reapEngines(engines: Docker[], log: Logger = nullLogger, opts: ReapOptions = {}): Promise<ReapReport> {
  const all: ReapReport = { restored: [], removedContainers: [], removedNetworks: [], removedSnapshots: 0, failed: [], kept: [] };
  for (const d of engines) {
    await requireEngine(d);
    const r = await reap(d, new DockerDriver(d), log, opts);
    const where = engines.length > 1 ? ` on ${endpointOf(d)}` : "";
    all.restored.push(...r.restored);
    all.removedContainers.push(...r.removedContainers.map((c) => c + where));
    all.removedNetworks.push(...r.removedNetworks.map((n) => n + where));
    all.removedSnapshots += r.removedSnapshots;
    all.failed.push(...r.failed.map((f) => ({ ...f, name: f.name + where })));
    all.kept.push(...r.kept);
  }
  return all;
}

/** Reap on every engine the lab uses (the default engine included). */
export function reapLab(lab: Lab, log: Logger = nullLogger, opts: ReapOptions = {}): Promise<ReapReport> {
  return reapEngines(enginesOf(lab).map((e) => dockerFor(e)), log, opts);
}

const is404 = (e: unknown) => (e as { statusCode?: number }).statusCode === 404;
const messageOf = (e: unknown) => (e instanceof Error ? e.message : String(e));

export async function reap(docker: Docker, driver: DockerDriver, log: Logger = nullLogger, opts: ReapOptions = {}): Promise<ReapReport> {
  const isDead = (labels: Record<string, string> | undefined) => {
    const owner = labels?.[Labels.owner];
    return !!owner && owner !== "none" && (owner === opts.owner || !ownerAlive(owner));
  };
  const report: ReapReport = { restored: [], removedContainers: [], removedNetworks: [], removedSnapshots: 0, failed: [], kept: [] };
  const fail = (what: ReapFailure["what"], name: string, e: unknown) => {
    report.failed.push({ what, name, error: messageOf(e) });
    log.error(`reaper could not clean up ${what} ${name}; the next command retries`, { what, name, error: messageOf(e) });
  };

  // 1. Machines of dead ephemeral runs: remove (their snapshots go in step 2).
  const containers = await docker.listContainers({ all: true, filters: { label: [`${Labels.managed}=true`, "patchlab.ephemeral=true"] } });
  const deadContainers = containers.filter((c) => isDead(c.Labels));
  await Promise.all(
    deadContainers.map(async (c) => {
      const name = c.Names[0]?.replace(/^\//, "") ?? c.Id;
      try {
        await docker.getContainer(c.Id).remove({ force: true });
        report.removedContainers.push(name);
      } catch (e) {
        if (is404(e)) report.removedContainers.push(name); // gone already: that is what we wanted
        else fail("container", name, e);
      }
    }),
  );
  const ephemeralRunsGone = new Set(deadContainers.map((c) => c.Labels[Labels.run]));

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
        fail("restore", `${machine} (run ${run})`, e);
        continue;
      }
    } else {
      noteInterrupted(run, `ephemeral machine ${machine} removed by the reaper`);
    }
    let all = true;
    for (const tag of img.RepoTags ?? []) {
      try {
        await docker.getImage(tag).remove({ force: true });
      } catch (e) {
        if (!is404(e)) {
          all = false;
          fail("snapshot", tag, e);
        }
      }
    }
    if (all) report.removedSnapshots++;
  }

  await driver.pruneSnapshots();

  // 3. Networks of dead ephemeral runs (after their containers are gone). Endpoints left by
  // killed runs are disconnected; a network a live lab reuses under the same name is kept.
  const nets = await docker.listNetworks({ filters: { label: [`${Labels.managed}=true`, "patchlab.ephemeral=true"] } });
  for (const n of nets.filter((n) => isDead(n.Labels))) {
    try {
      const r = await removeNetworkForce(docker, n.Id, { keepFor: (ep) => liveUser(docker, ep.id, isDead) });
      if (r.result === "kept") report.kept.push({ network: n.Name, reason: r.reason });
      else {
        report.removedNetworks.push(n.Name);
        if (r.disconnected.length) log.warn("disconnected endpoints left on a dead run's network", { network: n.Name, endpoints: r.disconnected });
      }
    } catch (e) {
      fail("network", n.Name, e);
    }
  }
  return report;
}

/** Why the container behind an endpoint must keep its network: it exists and is not a dead run's. */
async function liveUser(docker: Docker, id: string, isDead: (l: Record<string, string> | undefined) => boolean): Promise<string | undefined> {
  try {
    const c = await docker.getContainer(id).inspect();
    if (isDead(c.Config.Labels ?? undefined)) return undefined;
    return `container ${c.Name.replace(/^\//, "")} still uses it`;
  } catch (e) {
    if (is404(e)) return undefined; // a stale endpoint: its container is gone
    throw e;
  }
}

/** Mark the interrupted run's report so a reader knows why it is incomplete. Never overwrites results. */
function noteInterrupted(runId: string, what: string): void {
  const dir = path.join(reportsRoot(), runId);
  if (!fs.existsSync(dir)) return;
  fs.appendFileSync(path.join(dir, "interrupted.log"), `${new Date().toISOString()} ${what}\n`);
  scrubTree(dir); // the killed run never reached its own final pass over what it wrote
}
