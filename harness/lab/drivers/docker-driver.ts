// The Docker LabDriver: one internal bridge network per lab, one container per machine,
// snapshots as committed images. Restores recreate the container from the snapshot with
// the create options recorded in the snapshot itself, so a restore needs nothing but the
// image (the reaper relies on that after a crash).
import { refuseIfInterrupted } from "../../core/interrupt.ts";
import crypto from "node:crypto";
import type Docker from "dockerode";
import { isDockerMachine, type Lab, type Machine } from "../../config/schemas.ts";
import { classifyError, REMEDIES } from "../../core/classify.ts";
import { LabError } from "../../core/errors.ts";
import { ownerToken } from "../../core/owner.ts";
import { nullLogger, type Logger } from "../../core/log.ts";
import { stateDir } from "../../core/paths.ts";
import { assignAddresses, containerName, fqdn, gatewayFor, networkName } from "../addressing.ts";
import { ensureImages } from "../images/build.ts";
import { labPki } from "../pki.ts";
import { applyCredentials } from "../provisioning.ts";
import { roleModule } from "../roles/index.ts";
import type { LabPki } from "../roles/types.ts";
import { probeAll, waitUntil, type WaitStrategy } from "../../readiness/wait.ts";
import type { Connection, LabDriver, MachineHandle, MachineStatus, SnapshotRef, UpOptions } from "../types.ts";
import { Standbys } from "./docker-standby.ts";
import { DockerConnection } from "./docker-connection.ts";
import { docker, endpointOf, Labels } from "./docker-engine.ts";
import { defaultEngineUrl, engineOf, enginesOf, type EngineRef } from "./docker-engines.ts";
import { copyImages } from "./docker-images.ts";
import { removeNetworkForce } from "./docker-network.ts";

const PROVISION_MARK = "/etc/patchlab/provisioned";
const SNAPSHOT_ONLY_LABELS = new Set<string>([Labels.createOptions, Labels.snapshotLabel, "patchlab.created"]);

/** One LabError for everything that could not be removed, classified by the first failure. */
function removalFailed(what: string, failures: { name: string; error: unknown }[]): LabError {
  const first = failures[0]!.error;
  const kind = first instanceof LabError ? first.kind : (classifyError(first) ?? "harness");
  const list = failures.map((f) => `${f.name}: ${(f.error as Error).message ?? String(f.error)}`).join("; ");
  const err = new LabError(
    kind,
    `could not remove everything of ${what}: ${list}`,
    `${REMEDIES[kind] ?? "retry"}; then run the command again (what was removed stays removed)`,
    {},
    { cause: first },
  );
  return Object.assign(err, { failures });
}

export const snapshotName = (lab: string, machine: string, label: string) => `patchlab-snap/${lab}-${machine}:${label}`;

export interface DockerDriverOptions {
  log?: (machine: string) => Logger;
  /** Progress lines for people (image builds, machines coming up). */
  onProgress?: (line: string) => void;
  /** Lab objects made by an ephemeral run are removed by the reaper when their owner dies. */
  ephemeral?: boolean;
  /** The site engine this driver works on; absent: the default engine. */
  engine?: EngineRef;
}

/** How long a swapped-in standby may take to answer its readiness probes before the plain restore is used. */
const STANDBY_READY_MS = 5_000;

export class DockerDriver implements LabDriver {
  private pkis = new Map<string, Promise<LabPki>>();
  private readonly standbys: Standbys;

  /** The engine's endpoint: the registry's key, named in `lab status` and in errors. */
  readonly endpoint: string;

  constructor(private readonly docker: Docker, private readonly opts: DockerDriverOptions = {}) {
    this.endpoint = opts.engine?.url ?? endpointOf(docker);
    this.standbys = new Standbys(docker, (m) => this.log(m));
  }

  /** Whether a machine of the lab is a container on this driver's engine. */
  owns(lab: Lab, spec: Machine): boolean {
    return isDockerMachine(spec) && engineOf(lab, spec).key === (this.opts.engine?.key ?? defaultEngineUrl());
  }

  /** The lab network's subnet on this engine. */
  private subnet(lab: Lab): string {
    return this.opts.engine ? (enginesOf(lab).find((e) => e.key === this.opts.engine!.key)?.subnet ?? this.opts.engine.subnet) : lab.network.subnet;
  }

  private log(machine: string): Logger {
    return this.opts.log?.(machine) ?? nullLogger;
  }

  pki(lab: Lab): Promise<LabPki> {
    let p = this.pkis.get(lab.name);
    if (!p) {
      p = labPki(stateDir(), lab);
      this.pkis.set(lab.name, p);
    }
    return p;
  }

  /** Everything the driver needs to know about a machine, derived from the lab file alone. */
  handlesFor(lab: Lab): MachineHandle[] {
    const ips = assignAddresses(lab);
    return lab.machines.map((spec) => ({
      spec,
      lab,
      container: containerName(lab.name, spec.name),
      ip: ips.get(spec.name)!,
      fqdn: fqdn(lab, spec.name),
    }));
  }

  async handles(lab: Lab): Promise<MachineHandle[]> {
    return this.handlesFor(lab);
  }

  connect(m: MachineHandle): Connection {
    return new DockerConnection(this.docker, m.container, m.spec.name, (deadline) => this.waitReady(m, deadline));
  }

  async readiness(m: MachineHandle): Promise<WaitStrategy[]> {
    const pki = await this.pki(m.lab);
    return m.spec.roles.flatMap((r) => roleModule(r).readiness(m, pki));
  }

  async waitReady(m: MachineHandle, deadline: number): Promise<void> {
    const strategies = await this.readiness(m);
    await waitUntil(strategies, { machine: m.spec.name, ip: m.ip, conn: this.connect(m) }, deadline);
  }

  /** Labels identifying the lab network or a machine container. */
  private labels(lab: Lab, runId: string, kind: string, extra: Record<string, string> = {}): Record<string, string> {
    return {
      [Labels.managed]: "true",
      [Labels.lab]: lab.name,
      [Labels.run]: runId,
      [Labels.owner]: ownerToken(),
      [Labels.kind]: kind,
      "patchlab.ephemeral": this.opts.ephemeral ? "true" : "false",
      ...extra,
    };
  }

  private async ensureNetwork(lab: Lab, runId: string): Promise<void> {
    const name = networkName(lab.name);
    const existing = await this.docker.listNetworks({ filters: { name: [name] } });
    const same = existing.find((n) => n.Name === name);
    if (same) {
      const subnet = same.IPAM?.Config?.[0]?.Subnet;
      if (subnet === this.subnet(lab)) return;
      // The lab file's subnet changed: the old network must go (its machines go with it).
      await this.removeLabContainers(lab);
      await removeNetworkForce(this.docker, same.Id);
    }
    try {
      await this.docker.createNetwork({
        Name: name,
        Driver: "bridge",
        // Internal: lab machines can reach each other and the harness, nothing else.
        Internal: true,
        CheckDuplicate: true,
        IPAM: { Config: [{ Subnet: this.subnet(lab), Gateway: gatewayFor(this.subnet(lab)) }] },
        Labels: this.labels(lab, runId, "network"),
      });
    } catch (e) {
      throw new LabError(
        "network",
        `could not create network ${name} with subnet ${this.subnet(lab)} on engine ${this.endpoint}: ${(e as Error).message}`,
        `the subnet probably overlaps another Docker network or a host route: choose another ${this.opts.engine ? `\`sites.${this.opts.engine.sites[0]}.subnet\`` : "`network.subnet`"} in the lab file (see \`docker network ls\`)`,
        {},
        { cause: e },
      );
    }
  }

  /** Create options for a machine; recorded in every snapshot so a restore is self-contained. */
  createOptions(m: MachineHandle, image: string, runId: string): Docker.ContainerCreateOptions {
    const net = networkName(m.lab.name);
    return {
      name: m.container,
      Image: image,
      Hostname: m.spec.name,
      Domainname: m.lab.domain,
      Labels: this.labels(m.lab, runId, "machine", {
        [Labels.machine]: m.spec.name,
        [Labels.roles]: m.spec.roles.join(","),
      }),
      Env: ["DEBIAN_FRONTEND=noninteractive"],
      StopSignal: "SIGTERM",
      HostConfig: {
        NetworkMode: net,
        // Services such as samba and postgres want a few more capabilities than the default
        // set gives; still no --privileged.
        CapAdd: ["NET_ADMIN", "SYS_PTRACE"],
        Tmpfs: { "/run": "rw,exec", "/tmp": "rw,exec" },
      },
      NetworkingConfig: {
        EndpointsConfig: {
          [net]: { IPAMConfig: { IPv4Address: m.ip }, Aliases: [m.spec.name, m.fqdn] },
        },
      },
    };
  }

  private async containerInfo(name: string): Promise<Docker.ContainerInspectInfo | undefined> {
    try {
      return await this.docker.getContainer(name).inspect();
    } catch (e) {
      if ((e as { statusCode?: number }).statusCode === 404) return undefined;
      throw e;
    }
  }

  private async createAndStart(m: MachineHandle, opts: Docker.ContainerCreateOptions): Promise<void> {
    try {
      const c = await this.docker.createContainer(opts);
      await c.start();
    } catch (e) {
      throw new LabError(
        "machine-start",
        `could not start ${m.spec.name} (${m.container}) from ${opts.Image} on engine ${this.endpoint}: ${(e as Error).message}`,
        "run `patchlab lab down` to clear leftovers and retry; `docker logs " + m.container + "` shows why a machine exits",
        { machine: m.spec.name },
        { cause: e },
      );
    }
  }

  private provisionKey(m: MachineHandle, all: MachineHandle[], pki: LabPki): string {
    const h = crypto.createHash("sha256");
    h.update(JSON.stringify({ lab: m.lab.domain, machines: all.map((x) => [x.spec.name, x.ip, x.spec.roles]) }));
    h.update(pki.caCertPem);
    return h.digest("hex").slice(0, 16);
  }

  async up(lab: Lab, opts: UpOptions): Promise<MachineHandle[]> {
    // Provisioning sees every machine of the lab (a mixed lab's VMs and servers are in its DNS
    // zone); only the lab's containers are this driver's to create.
    const all = opts.machines ?? this.handlesFor(lab);
    const mine = all.filter((m) => this.owns(lab, m.spec));
    const images = [...new Set(mine.flatMap((m) => (isDockerMachine(m.spec) ? [m.spec.image] : [])))];
    const tags = this.opts.engine
      ? await copyImages(docker(), this.docker, images, { log: this.log("images"), onProgress: this.opts.onProgress, target: this.endpoint })
      : await ensureImages(this.docker, images, { log: this.log("images"), onProgress: this.opts.onProgress });
    await this.ensureNetwork(lab, opts.runId);
    const pki = await this.pki(lab);
    const ctx = { machines: all, pki, connect: (x: MachineHandle) => this.connect(x) };

    await Promise.all(
      mine.map(async (m) => {
        const log = this.log(m.spec.name);
        if (!isDockerMachine(m.spec)) return;
        const tag = tags.get(m.spec.image)!;
        const info = await this.containerInfo(m.container);
        const key = this.provisionKey(m, all, pki);
        let reuse = false;
        if (info?.State.Running && info.Config.Labels?.["patchlab.image"] === tag) {
          const mark = await this.connect(m).exec(["cat", PROVISION_MARK]).catch(() => undefined);
          reuse = mark?.stdout.trim() === key;
        }
        if (reuse) {
          log.info("machine already up with current image and provisioning; reusing", { container: m.container });
          await this.flattenIfDeep(m, info!);
          await applyCredentials(this.connect(m), m); // the lab's passwords may have changed since
        } else {
          if (info) await this.docker.getContainer(m.container).remove({ force: true });
          const o = this.createOptions(m, tag, opts.runId);
          o.Labels!["patchlab.image"] = tag;
          log.info("creating machine", { container: m.container, image: tag, ip: m.ip });
          await this.createAndStart(m, o);
          const conn = this.connect(m);
          for (const role of m.spec.roles) {
            const mod = roleModule(role);
            if (mod.provision) {
              log.info("provisioning role", { role });
              await mod.provision(conn, m, ctx);
            }
          }
          await conn.upload([{ path: PROVISION_MARK, content: key + "\n" }]);
        }
        await this.waitReady(m, opts.deadline);
        this.opts.onProgress?.(`${m.spec.name}: ready (${m.spec.roles.join(", ")}) at ${m.ip}`);
      }),
    );
    return mine;
  }

  /**
   * Every snapshot-and-restore cycle leaves the machine running on one more image layer, and
   * overlayfs stops at 128. Past a limit, the machine's filesystem is exported and imported
   * as a single layer, and the machine recreated on it: same files, same config, a few
   * seconds once in a long while instead of a lab that breaks after ~120 runs.
   */
  async flattenIfDeep(m: MachineHandle, info: Docker.ContainerInspectInfo): Promise<boolean> {
    const max = Number(process.env.PATCHLAB_MAX_LAYERS ?? 48);
    const img = await this.docker.getImage(info.Image).inspect();
    const layers = img.RootFS?.Layers?.length ?? 0;
    if (layers <= max) return false;
    const log = this.log(m.spec.name);
    const t0 = Date.now();
    const cfg = img.Config;
    const changes = [
      ...(cfg.Entrypoint ? [`ENTRYPOINT ${JSON.stringify(cfg.Entrypoint)}`] : []),
      ...(cfg.Cmd ? [`CMD ${JSON.stringify(cfg.Cmd)}`] : []),
      ...(cfg.Env ?? []).map((e) => {
        const i = e.indexOf("=");
        return `ENV ${e.slice(0, i)}=${JSON.stringify(e.slice(i + 1))}`;
      }),
      `LABEL ${Labels.managed}=true`,
      `LABEL ${Labels.kind}=flattened`,
      `LABEL ${Labels.lab}=${m.lab.name}`,
      `LABEL ${Labels.machine}=${m.spec.name}`,
    ];
    const repo = `patchlab-flat/${m.lab.name}-${m.spec.name}`;
    const c = this.docker.getContainer(m.container);
    await c.pause(); // a consistent copy: nothing writes while it is exported
    try {
      const tar = await c.export();
      await new Promise<void>((resolve, reject) => {
        this.docker.importImage(tar as never, { repo, tag: "current", changes } as object, (err: unknown, stream?: NodeJS.ReadableStream) => {
          if (err || !stream) return reject(err);
          this.docker.modem.followProgress(stream, (e: unknown) => (e ? reject(e) : resolve()));
        });
      });
    } finally {
      await c.unpause().catch(() => undefined);
    }
    const opts: Docker.ContainerCreateOptions = {
      ...this.createOptions(m, `${repo}:current`, info.Config.Labels?.[Labels.run] ?? "flatten"),
      Labels: Object.fromEntries(Object.entries(info.Config.Labels ?? {}).filter(([k]) => !SNAPSHOT_ONLY_LABELS.has(k))),
    };
    await c.remove({ force: true });
    await this.createAndStart(m, opts);
    await this.pruneSnapshots();
    await this.docker.pruneImages({ filters: { dangling: ["true"], label: [`${Labels.kind}=flattened`] } } as object).catch(() => undefined);
    log.info("flattened machine image", { layersBefore: layers, ms: Date.now() - t0 });
    this.opts.onProgress?.(`${m.spec.name}: flattened ${layers} image layers into one (${((Date.now() - t0) / 1000).toFixed(1)} s)`);
    return true;
  }

  async status(lab: Lab): Promise<MachineStatus[]> {
    const pki = await this.pki(lab);
    return Promise.all(
      this.handlesFor(lab).filter((m) => this.owns(lab, m.spec)).map(async (m): Promise<MachineStatus> => {
        const info = await this.containerInfo(m.container);
        const state = !info ? "absent" : info.State.Running ? "running" : "stopped";
        const base = { machine: m.spec.name, container: m.container, roles: m.spec.roles, state, engine: this.endpoint } as const;
        if (state !== "running") {
          return { ...base, health: m.spec.roles.map((role) => ({ role, healthy: false, detail: `machine ${state}` })) };
        }
        const target = { machine: m.spec.name, ip: m.ip, conn: this.connect(m) };
        const health = await Promise.all(
          m.spec.roles.map(async (role) => {
            const r = await probeAll(roleModule(role).readiness(m, pki), target);
            return { role, healthy: r.ok, detail: r.detail };
          }),
        );
        return { ...base, ip: m.ip, health };
      }),
    );
  }

  /**
   * Start again those of `names` (this engine's machines) that are stopped: an engine restart
   * stops every container, and a run must leave the machines that ran before it running, as
   * they were (their filesystem is kept; only the targets were patched, and those are restored
   * from their snapshots). Returns the machines started.
   */
  async startStopped(lab: Lab, names: readonly string[], deadline: number): Promise<string[]> {
    const started: string[] = [];
    await Promise.all(
      this.handlesFor(lab)
        .filter((m) => this.owns(lab, m.spec) && names.includes(m.spec.name))
        .map(async (m) => {
          const info = await this.containerInfo(m.container);
          if (!info || info.State.Running) return;
          this.log(m.spec.name).warn("machine found stopped after the run (did its engine restart?): starting it again", { engine: this.endpoint });
          await this.docker.getContainer(m.container).start();
          await this.waitReady(m, deadline);
          started.push(m.spec.name);
        }),
    );
    return started;
  }

  async snapshot(m: MachineHandle, label: string, runId?: string): Promise<SnapshotRef> {
    refuseIfInterrupted("snapshot", m.spec.name);
    const info = await this.containerInfo(m.container);
    if (!info?.State.Running) {
      throw new LabError("snapshot", `cannot snapshot ${m.spec.name}: machine is not running`, "bring the lab up first: `patchlab lab up`", { machine: m.spec.name });
    }
    const createdAt = new Date().toISOString();
    const opts = this.createOptions(m, "SNAPSHOT", info.Config.Labels?.[Labels.run] ?? runId ?? "manual");
    // Keep the running container's labels (lab run id, image tag) so a restore looks the same.
    // (minus what a snapshot adds, which a container restored from an image inherits).
    opts.Labels = Object.fromEntries(
      Object.entries(info.Config.Labels ?? {}).filter(([k]) => !SNAPSHOT_ONLY_LABELS.has(k)),
    );
    const encoded = Buffer.from(JSON.stringify(opts)).toString("base64");
    const changes = [
      `LABEL ${Labels.kind}=snapshot`,
      `LABEL ${Labels.snapshotLabel}=${label}`,
      `LABEL ${Labels.machine}=${m.spec.name}`,
      `LABEL ${Labels.lab}=${m.lab.name}`,
      `LABEL ${Labels.owner}=${runId ? ownerToken() : "none"}`,
      `LABEL ${Labels.run}=${runId ?? "manual"}`,
      `LABEL patchlab.created=${createdAt}`,
      `LABEL ${Labels.createOptions}=${encoded}`,
    ];
    try {
      const r = (await this.docker.getContainer(m.container).commit({
        repo: snapshotName(m.lab.name, m.spec.name, label).split(":")[0],
        tag: label,
        pause: true,
        changes,
      } as unknown as object)) as { Id: string };
      return { lab: m.lab.name, machine: m.spec.name, label, ref: r.Id, createdAt, ...(runId ? { runId } : {}) };
    } catch (e) {
      throw new LabError("snapshot", `snapshot of ${m.spec.name} failed: ${(e as Error).message}`, "check free disk space (`docker system df`) and that the machine is running", { machine: m.spec.name }, { cause: e });
    }
  }

  /** Start a warm standby of the machine from `ref` while the patch is tested (docker-standby.ts). */
  prepareRestore(m: MachineHandle, ref: SnapshotRef): void {
    this.standbys.prepare(m, ref.ref, () => this.snapshotCreateOptions(ref.ref, m.spec.name));
  }

  async restore(m: MachineHandle, ref: SnapshotRef, deadline: number): Promise<void> {
    // The signal handler's reaper restores through restoreFromImage; the run's own restores stop.
    refuseIfInterrupted("restore", m.spec.name);
    if (await this.standbys.swapIn(m, ref.ref)) {
      // The standby booted from the snapshot already: ready at once, or recreated the plain way.
      try {
        await this.waitReady(m, Math.min(deadline, Date.now() + STANDBY_READY_MS));
        return;
      } catch (e) {
        this.log(m.spec.name).warn("swapped-in standby not ready; recreating the machine from its snapshot", { step: "restore", error: (e as Error).message });
      }
    }
    await this.restoreFromImage(ref.ref, m.spec.name);
    await this.waitReady(m, deadline);
  }

  /** The create options a snapshot image records, its own id as the image. */
  private async snapshotCreateOptions(imageRef: string, machine: string): Promise<Docker.ContainerCreateOptions> {
    try {
      const img = await this.docker.getImage(imageRef).inspect();
      const opts = JSON.parse(Buffer.from(img.Config.Labels?.[Labels.createOptions] ?? "", "base64").toString("utf8")) as Docker.ContainerCreateOptions;
      return { ...opts, Image: imageRef };
    } catch (e) {
      throw new LabError("restore", `snapshot ${imageRef} of ${machine} is unusable: ${(e as Error).message}`, "list snapshots with `patchlab lab snapshots`; take a new one", { machine }, { cause: e });
    }
  }

  /**
   * Recreate a machine from a snapshot image using only what the image records. Used by
   * restore() and by the reaper, which may have no lab file at hand. A standby of the machine
   * (docker-standby.ts) goes too: it never outlives the restore it was made for.
   */
  async restoreFromImage(imageRef: string, machine: string): Promise<string> {
    const opts = await this.snapshotCreateOptions(imageRef, machine);
    await this.standbys.discard(opts.name!);
    // Two restores of the same machine can race (a run's own restore and the in-process reaper
    // after Ctrl-C): both recreate it from the same image, so on a 409 the loser retries and
    // the machine ends up the same either way, instead of one of them giving up half-done.
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.recreate(opts, machine);
      } catch (e) {
        if (attempt >= 5 || !(e instanceof LabError && /\(HTTP code 409\)/.test(e.message))) throw e;
        await new Promise((r) => setTimeout(r, 300 * attempt));
      }
    }
  }

  private async recreate(opts: Docker.ContainerCreateOptions, machine: string): Promise<string> {
    try {
      // Kill, not stop: the state being thrown away needs no graceful shutdown.
      await this.docker.getContainer(opts.name!).remove({ force: true });
    } catch (e) {
      if ((e as { statusCode?: number }).statusCode !== 404) throw new LabError("restore", `could not remove ${opts.name}: ${(e as Error).message}`, "retry; if it persists restart the Docker engine", { machine }, { cause: e });
    }
    try {
      const c = await this.docker.createContainer(opts);
      await c.start();
      return opts.name!;
    } catch (e) {
      throw new LabError("restore", `could not recreate ${machine} from snapshot: ${(e as Error).message}`, "check `docker network ls` shows the lab network; `patchlab lab up` recreates it", { machine }, { cause: e });
    }
  }

  async snapshots(lab: Lab): Promise<SnapshotRef[]> {
    const images = await this.docker.listImages({
      filters: { label: [`${Labels.kind}=snapshot`, `${Labels.lab}=${lab.name}`] },
    });
    return images
      // An untagged snapshot image was deleted; a restored machine merely still runs on it.
      .filter((i) => (i.RepoTags ?? []).some((t) => t.startsWith("patchlab-snap/")))
      .map((i) => ({
        lab: lab.name,
        machine: i.Labels?.[Labels.machine] ?? "?",
        label: i.Labels?.[Labels.snapshotLabel] ?? "?",
        ref: i.Id,
        createdAt: i.Labels?.["patchlab.created"] ?? new Date(i.Created * 1000).toISOString(),
        ...(i.Labels?.[Labels.run] && i.Labels[Labels.run] !== "manual" ? { runId: i.Labels[Labels.run] } : {}),
      }))
      .sort((a, b) => a.createdAt.localeCompare(b.createdAt));
  }

  /**
   * Forget a snapshot: its tag goes. A machine restored from it still runs on the image, so
   * the image itself can only go once no container uses it (pruneSnapshots).
   */
  async deleteSnapshot(ref: SnapshotRef): Promise<void> {
    for (const c of this.standbys.of(ref.ref)) await this.standbys.discard(c);
    try {
      await this.docker.getImage(snapshotName(ref.lab, ref.machine, ref.label)).remove({ force: true, noprune: false });
    } catch (e) {
      if ((e as { statusCode?: number }).statusCode !== 404) throw e;
    }
    await this.pruneSnapshots();
  }

  /** Remove untagged snapshot images no container runs on any more. */
  async pruneSnapshots(): Promise<void> {
    await this.docker
      .pruneImages({ filters: { dangling: ["true"], label: [`${Labels.kind}=snapshot`] } } as object)
      .catch(() => undefined); // best effort: another prune may be running
  }

  /**
   * Remove every machine of the lab, each on its own: one the engine cannot remove (or does
   * not answer for before the call's deadline) does not stop the others. Throws a LabError
   * naming each failure once all were tried.
   */
  private async removeLabContainers(lab: Lab): Promise<void> {
    const cs = await this.docker.listContainers({
      all: true,
      filters: { label: [`${Labels.lab}=${lab.name}`, `${Labels.kind}=machine`] },
    });
    const results = await Promise.allSettled(
      cs.map((c) =>
        this.docker.getContainer(c.Id).remove({ force: true }).catch((e: { statusCode?: number }) => {
          if (e.statusCode !== 404) throw e;
        }),
      ),
    );
    const failed = results.flatMap((r, i) => (r.status === "rejected" ? [{ name: cs[i]!.Names[0]?.replace(/^\//, "") ?? cs[i]!.Id, error: r.reason as unknown }] : []));
    if (failed.length) throw removalFailed(`lab ${lab.name}`, failed);
  }

  async down(lab: Lab, opts: { purgeSnapshots?: boolean } = {}): Promise<void> {
    const failed: { name: string; error: unknown }[] = [];
    await this.removeLabContainers(lab).catch((e: unknown) => failed.push(...((e as { failures?: typeof failed }).failures ?? [{ name: "machines", error: e }])));
    const nets = await this.docker.listNetworks({ filters: { name: [networkName(lab.name)] } });
    for (const n of nets.filter((x) => x.Name === networkName(lab.name))) {
      // Endpoints left behind (a killed `lab up`, a stray container) are disconnected first.
      await removeNetworkForce(this.docker, n.Id).catch((error: unknown) => failed.push({ name: `network ${n.Name}`, error }));
    }
    if (opts.purgeSnapshots) {
      for (const s of await this.snapshots(lab)) await this.deleteSnapshot(s).catch((error: unknown) => failed.push({ name: `snapshot ${s.machine}:${s.label}`, error }));
    }
    // A flattened image is the state of a machine that no longer exists.
    const flat = await this.docker.listImages({ filters: { label: [`${Labels.kind}=flattened`, `${Labels.lab}=${lab.name}`] } });
    for (const i of flat) for (const t of i.RepoTags ?? []) await this.docker.getImage(t).remove().catch(() => undefined);
    await this.pruneSnapshots();
    if (failed.length) throw removalFailed(`lab ${lab.name}`, failed);
  }
}
