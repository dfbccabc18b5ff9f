// The vm LabDriver: QEMU virtual machines driven through QMP on a unix socket (see README.md
// in this directory for why not libvirt). One overlay qcow2 per VM on the image's read-only
// base; snapshots are QEMU internal snapshots of memory and disk (savevm/loadvm) stored in
// the overlay; the harness reaches the guest over SSH on a loopback address of its own.
//
// State per VM: <state>/vms/<lab>/<machine>/ — overlay.qcow2, vm.json, snapshots.json,
// known_hosts (the image's host keys, pinned), serial.log (the console), qmp.sock.
import { createHash } from "node:crypto";
import { execFile, spawnSync } from "node:child_process";
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import type { Lab, ServerRole, VmMachine } from "../../../config/schemas.ts";
import { driverOf } from "../../../config/schemas.ts";
import { LabError } from "../../../core/errors.ts";
import { nullLogger, type Logger } from "../../../core/log.ts";
import { ownerAlive, ownerToken } from "../../../core/owner.ts";
import { stateDir } from "../../../core/paths.ts";
import { probeAll, waitUntil } from "../../../readiness/wait.ts";
import { assignAddresses, containerName, fqdn, networkName } from "../../addressing.ts";
import { contains, parseIpv4, parseSubnet } from "../../../config/ipv4.ts";
import { docker, engineAnswers } from "../docker-engine.ts";
import { labPki } from "../../pki.ts";
import { ensureProvisioned, provisionKey } from "../../provisioning.ts";
import { machineReadiness } from "../../roles/index.ts";
import type { LabPki } from "../../roles/types.ts";
import { harnessKey } from "../../transports/keys.ts";
import { SshConnection } from "../../transports/ssh.ts";
import type { LabDriver, MachineHandle, MachineStatus, SnapshotRef, UpOptions } from "../../types.ts";
import { LABEL_RE } from "../ssh-hooks.ts";
import { chooseAccel, type AccelChoice } from "./accel.ts";
import { ensureVmImage, type VmImage } from "./image.ts";
import { QmpClient } from "./qmp.ts";
import { freePort, loopbackFor, qemuAlive, startQemu, waitGone, type Forward, type QemuSpec } from "./qemu.ts";

const run = promisify(execFile);

/** Internal snapshot taken right after provisioning: `up` starts from it in about a second. */
export const PROVISIONED = "patchlab-provisioned";

/** Service ports forwarded into the guest per role (same number on the VM's loopback address). */
export const ROLE_PORTS: Record<ServerRole, Omit<Forward, "hostPort">[]> = {
  web: [{ proto: "tcp", guestPort: 80 }, { proto: "tcp", guestPort: 443 }],
  app: [{ proto: "tcp", guestPort: 80 }],
  dns: [{ proto: "tcp", guestPort: 53 }, { proto: "udp", guestPort: 53 }],
  db: [{ proto: "tcp", guestPort: 5432 }],
  file: [{ proto: "tcp", guestPort: 445 }],
  ssh: [],
  client: [],
  updates: [{ proto: "tcp", guestPort: 80 }],
};

export interface VmDriverOptions {
  log?: (machine: string) => Logger;
  onProgress?: (line: string) => void;
  /** VMs of an ephemeral run are stopped and removed by reapVms when their owner dies. */
  ephemeral?: boolean;
}

/** What the driver remembers of a VM between processes (vm.json). */
export interface VmState {
  name: string;
  pid: number;
  address: string;
  sshPort: number;
  imageHash: string;
  imageDir: string;
  accel: AccelChoice;
  memoryMiB: number;
  cpus: number;
  /** The VM's lab address, added to the lab network's bridge on the host while it runs. */
  bridged?: { address: string; dev: string };
  /** Provision key (layout, CA, harness key) the PROVISIONED snapshot was taken for. */
  provisioned?: string;
  owner: string;
  ephemeral: boolean;
  startedAt: string;
}

interface SnapMeta {
  label: string;
  createdAt: string;
  runId?: string;
  /** The process that took it (run snapshots): the reaper restores those whose owner died. */
  owner?: string;
}

type VmHandle = MachineHandle & { spec: VmMachine };
const isVm = (m: MachineHandle): m is VmHandle => driverOf(m.spec) === "vm";

export function vmsRoot(): string {
  return path.join(stateDir(), "vms");
}

export class VmDriver implements LabDriver {
  private readonly conns = new Map<string, SshConnection>();
  private readonly pkis = new Map<string, Promise<LabPki>>();
  /** Figures of the last operations, for people and for the tests' report. */
  readonly timings: { what: string; machine: string; ms: number }[] = [];

  constructor(private readonly opts: VmDriverOptions = {}) {}

  private log(machine: string): Logger {
    return this.opts.log?.(machine) ?? nullLogger;
  }

  private time(what: string, machine: string, t0: number): number {
    const ms = Date.now() - t0;
    this.timings.push({ what, machine, ms });
    this.log(machine).info(`${what} took ${ms} ms`, { what, ms });
    return ms;
  }

  private pki(lab: Lab): Promise<LabPki> {
    let p = this.pkis.get(lab.name);
    if (!p) this.pkis.set(lab.name, (p = labPki(stateDir(), lab)));
    return p;
  }

  private key() {
    return harnessKey(path.join(stateDir(), "vm", "id_ed25519"));
  }

  handlesFor(lab: Lab): VmHandle[] {
    const ips = assignAddresses(lab);
    return lab.machines.flatMap((spec) =>
      spec.driver === "vm" ? [{ spec, lab, container: containerName(lab.name, spec.name), ip: loopbackFor(ips.get(spec.name)!), labIp: ips.get(spec.name)!, fqdn: fqdn(lab, spec.name) }] : [],
    );
  }

  async handles(lab: Lab): Promise<MachineHandle[]> {
    return this.handlesFor(lab);
  }

  private mustBeVm(m: MachineHandle): VmHandle {
    if (!isVm(m)) throw new LabError("harness", `machine ${m.spec.name} is not a vm machine`, "use the driver of its `driver:` (driverFor)", { machine: m.spec.name });
    return m;
  }

  dir(m: MachineHandle): string {
    return path.join(vmsRoot(), m.lab.name, m.spec.name);
  }

  private files(m: MachineHandle) {
    const d = this.dir(m);
    const sock = path.join(d, "qmp.sock");
    return {
      dir: d,
      overlay: path.join(d, "overlay.qcow2"),
      state: path.join(d, "vm.json"),
      snaps: path.join(d, "snapshots.json"),
      knownHosts: path.join(d, "known_hosts"),
      serial: path.join(d, "serial.log"),
      pid: path.join(d, "qemu.pid"),
      // A unix socket path must stay under ~108 bytes.
      qmp: sock.length < 100 ? sock : path.join(os.tmpdir(), `patchlab-qmp-${createHash("sha256").update(sock).digest("hex").slice(0, 12)}.sock`),
    };
  }

  state(m: MachineHandle): VmState | undefined {
    try {
      return JSON.parse(fs.readFileSync(this.files(m).state, "utf8")) as VmState;
    } catch {
      return undefined;
    }
  }

  private writeState(m: MachineHandle, s: VmState): void {
    const f = this.files(m).state;
    fs.writeFileSync(`${f}.tmp`, JSON.stringify(s, null, 2) + "\n");
    fs.renameSync(`${f}.tmp`, f);
  }

  running(m: MachineHandle): boolean {
    const s = this.state(m);
    return !!s && qemuAlive(s.pid, s.name);
  }

  connect(m: MachineHandle): SshConnection {
    const h = this.mustBeVm(m);
    const key = `${h.lab.name}/${h.spec.name}`;
    let c = this.conns.get(key);
    if (!c) {
      const self = this;
      const f = this.files(h);
      c = new SshConnection({
        machine: h.spec.name,
        endpoint: {
          host: h.ip,
          // The forwarded port is chosen when the VM starts: read it at connect time.
          get port() { return self.state(h)?.sshPort ?? 22; },
          user: "root",
          knownHostsFile: f.knownHosts,
          trustOnFirstUse: false,
          credentials: () => ({ privateKey: Buffer.from(this.key().privateKey), source: `the vm driver's key ${path.join(stateDir(), "vm", "id_ed25519")}` }),
        },
        ready: (deadline) => this.waitRoles(h, deadline),
        gone: async () => (this.running(h) ? undefined : `its QEMU process is gone (console: ${f.serial})`),
        consoleHint: f.serial,
        log: this.log(h.spec.name),
      });
      this.conns.set(key, c);
    }
    return c;
  }

  private async waitRoles(m: VmHandle, deadline: number): Promise<void> {
    const strategies = machineReadiness(m, await this.pki(m.lab));
    await waitUntil(strategies, { machine: m.spec.name, ip: m.ip, conn: this.connect(m) }, deadline);
  }

  private async qmp<T>(m: MachineHandle, fn: (q: QmpClient) => Promise<T>): Promise<T> {
    const q = await QmpClient.connect(this.files(m).qmp).catch((e: Error) => {
      throw new LabError("machine-start", `cannot reach QEMU of ${m.spec.name} over QMP: ${e.message}`, `is the VM running? \`patchlab lab status\`; console: ${this.files(m).serial}`, { machine: m.spec.name }, { cause: e });
    });
    try {
      return await fn(q);
    } finally {
      q.close();
    }
  }

  /** Starts QEMU for the machine (cold boot, or from an internal snapshot with loadvm). */
  private async start(m: VmHandle, img: VmImage, accel: AccelChoice, loadvm?: string): Promise<VmState> {
    const f = this.files(m);
    const prev = this.state(m);
    // Keep the SSH port across starts (sessions and known_hosts stay valid) while it is free.
    let sshPort = prev?.sshPort;
    if (!sshPort || !(await portFree(m.ip, sshPort))) sshPort = await freePort(m.ip);
    const roles = [...new Map(m.spec.roles.flatMap((r) => ROLE_PORTS[r]).map((p) => [`${p.proto}/${p.guestPort}`, p])).values()];
    const forwards: Forward[] = [{ proto: "tcp", hostPort: sshPort, guestPort: 22 }, ...roles.map((p) => ({ ...p, hostPort: p.guestPort }))];
    // In a lab that has a network (its containers), the VM joins it: its lab address goes on
    // the lab's bridge and its role ports (not SSH) are forwarded there too.
    const bridged = await this.joinLabNetwork(m);
    if (bridged) forwards.push(...roles.map((p) => ({ ...p, hostPort: p.guestPort, address: bridged.address })));
    const pub = Buffer.from(this.key().publicKey + "\n").toString("base64");
    const spec: QemuSpec = {
      name: m.container,
      accel: accel.accel,
      memoryMiB: m.spec.vm.memory,
      cpus: m.spec.vm.cpus,
      kernel: img.kernel,
      initrd: img.initrd,
      cmdline: `${img.cmdline} patchlab.ssh_key=${pub}`,
      disk: f.overlay,
      address: m.ip,
      forwards,
      qmpSocket: f.qmp,
      serialLog: f.serial,
      pidFile: f.pid,
      ...(loadvm ? { loadvm } : {}),
    };
    fs.writeFileSync(f.knownHosts, img.hostKeys.map((k) => `[${m.ip}]:${sshPort} ${k}\n`).join(""));
    fs.appendFileSync(f.serial, `\n--- patchlab: starting ${m.container} (${accel.accel}${loadvm ? `, loadvm ${loadvm}` : ", cold boot"}) at ${new Date().toISOString()} ---\n`);
    const t0 = Date.now();
    const pid = await startQemu(spec, m.spec.name).catch((e: unknown) => {
      if (bridged) leaveLabNetwork(bridged);
      throw e;
    });
    this.time(loadvm ? "start from snapshot (qemu)" : "qemu start", m.spec.name, t0);
    const st: VmState = {
      name: m.container,
      pid,
      address: m.ip,
      sshPort,
      imageHash: img.hash,
      imageDir: img.dir,
      accel,
      memoryMiB: m.spec.vm.memory,
      cpus: m.spec.vm.cpus,
      ...(prev?.provisioned && prev.imageHash === img.hash ? { provisioned: prev.provisioned } : {}),
      ...(bridged ? { bridged } : {}),
      owner: ownerToken(),
      ephemeral: !!this.opts.ephemeral,
      startedAt: new Date().toISOString(),
    };
    this.writeState(m, st);
    this.conns.get(`${m.lab.name}/${m.spec.name}`)?.close();
    return st;
  }

  private async stop(m: MachineHandle): Promise<void> {
    const s = this.state(m);
    this.conns.get(`${m.lab.name}/${m.spec.name}`)?.close();
    if (s?.bridged) leaveLabNetwork(s.bridged);
    if (!s || !qemuAlive(s.pid, s.name)) return;
    await this.qmp(m, (q) => q.execute("quit", undefined, 5000)).catch(() => undefined);
    if (!(await waitGone(s.pid, s.name, 5000))) {
      try { process.kill(s.pid, "SIGKILL"); } catch { /* gone */ }
      await waitGone(s.pid, s.name, 5000);
    }
  }

  /**
   * When the lab has its Docker network (containers of a mixed lab) and the VM's lab address
   * lies in it, puts that address on the network's bridge on this host, so the lab's
   * containers reach the VM's forwarded role ports there. The guest still has no route out:
   * this only lets connections in, like the loopback forwards. No network: nothing to join.
   */
  private async joinLabNetwork(m: VmHandle): Promise<{ address: string; dev: string } | undefined> {
    const address = m.labIp;
    if (!address) return undefined;
    const engine = docker();
    if (!(await engineAnswers(engine, 2000))) return undefined;
    const name = networkName(m.lab.name);
    const net = (await engine.listNetworks({ filters: { name: [name] } })).find((n) => n.Name === name);
    const subnet = parseSubnet(net?.IPAM?.Config?.[0]?.Subnet);
    const ip = parseIpv4(address);
    if (!net || !subnet || ip === undefined || !contains(subnet, ip)) return undefined;
    const dev = net.Options?.["com.docker.network.bridge.name"] ?? `br-${net.Id.slice(0, 12)}`;
    try {
      await run("ip", ["-4", "addr", "replace", `${address}/32`, "dev", dev]);
    } catch (e) {
      throw new LabError("network", `cannot put ${m.spec.name}'s lab address ${address} on the lab network's bridge ${dev}: ${(e as Error).message.split("\n")[0]}`, "the harness needs root (CAP_NET_ADMIN) for a VM to join a lab network; or run the lab without containers", { machine: m.spec.name }, { cause: e });
    }
    return { address, dev };
  }

  private readSnaps(m: MachineHandle): SnapMeta[] {
    try {
      return JSON.parse(fs.readFileSync(this.files(m).snaps, "utf8")) as SnapMeta[];
    } catch {
      return [];
    }
  }

  private writeSnaps(m: MachineHandle, f: (s: SnapMeta[]) => SnapMeta[]): void {
    const file = this.files(m).snaps;
    fs.writeFileSync(`${file}.tmp`, JSON.stringify(f(this.readSnaps(m)), null, 2) + "\n");
    fs.renameSync(`${file}.tmp`, file);
  }

  /** Tags of the internal snapshots in the overlay, read from the image file itself. */
  async internalSnapshots(m: MachineHandle): Promise<string[]> {
    const f = this.files(m);
    if (!fs.existsSync(f.overlay)) return [];
    const { stdout } = await run("qemu-img", ["snapshot", "-l", "-U", f.overlay]);
    return stdout.split("\n").slice(2).map((l) => l.trim().split(/\s+/)[1]).filter((t): t is string => !!t);
  }

  /** A guest started from a snapshot has that moment's clock: set it to now. */
  private async syncClock(m: VmHandle): Promise<void> {
    await this.connect(m).exec(["date", "-u", "-s", `@${(Date.now() / 1000).toFixed(3)}`], { timeoutMs: 10_000 }).catch(() => undefined);
  }

  async up(lab: Lab, opts: UpOptions): Promise<MachineHandle[]> {
    const mine = this.handlesFor(lab);
    if (mine.length === 0) return [];
    const all = opts.machines ?? mine;
    const pki = await this.pki(lab);
    const layout = `${provisionKey(all, pki)}-${createHash("sha256").update(this.key().publicKey).digest("hex").slice(0, 8)}`;
    const images = new Map<string, Promise<{ img: VmImage; accel: AccelChoice }>>();
    const imageFor = (name: string) => {
      let p = images.get(name);
      if (!p) {
        p = (async () => {
          const img = await ensureVmImage(name, { onProgress: this.opts.onProgress });
          return { img, accel: await chooseAccel(img.kernel) };
        })();
        images.set(name, p);
      }
      return p;
    };
    const ctx = { machines: all, pki, connect: (x: MachineHandle) => this.connect(x) };
    await Promise.all(
      mine.map(async (m) => {
        const log = this.log(m.spec.name);
        const f = this.files(m);
        fs.mkdirSync(f.dir, { recursive: true });
        const { img, accel } = await imageFor(m.spec.vm.image);
        const st = this.state(m);
        const sameImage = st?.imageHash === img.hash && fs.existsSync(f.overlay);
        if (sameImage && this.running(m) && st!.provisioned === layout) {
          log.info("VM already running with current image and provisioning; reusing", {});
        } else {
          await this.stop(m);
          const fast = sameImage && st!.provisioned === layout && (await this.internalSnapshots(m)).includes(PROVISIONED);
          if (fast) {
            const t0 = Date.now();
            await this.start(m, img, accel, PROVISIONED);
            await this.syncClock(m);
            this.time("start from the provisioned snapshot to SSH", m.spec.name, t0);
          } else {
            fs.rmSync(f.overlay, { force: true });
            fs.writeFileSync(f.snaps, "[]\n");
            await run("qemu-img", ["create", "-q", "-f", "qcow2", "-F", "qcow2", "-b", img.disk, f.overlay]);
            this.opts.onProgress?.(`${m.spec.name}: booting VM (${accel.accel}: ${accel.reason})`);
            const t0 = Date.now();
            await this.start(m, img, accel);
            const conn = this.connect(m);
            await conn.waitUntilReachable(opts.deadline);
            this.time("cold boot to SSH", m.spec.name, t0);
            await conn.exec(["sh", "-c", 'echo "$1" > /etc/hostname && hostname "$1" && printf "127.0.1.1\\t%s %s\\n" "$2" "$1" >> /etc/hosts', "sh", m.spec.name, m.fqdn]);
            await this.routeToLab(conn, m);
            await ensureProvisioned(conn, m, ctx, { onRole: (role) => log.info("provisioning role", { role }) });
            await this.waitRoles(m, opts.deadline);
            await this.savevm(m, PROVISIONED);
            this.writeState(m, { ...this.state(m)!, provisioned: layout });
          }
        }
        await this.waitRoles(m, opts.deadline);
        this.opts.onProgress?.(`${m.spec.name}: ready (${m.spec.roles.join(", ")}) at ${m.ip} (ssh port ${this.state(m)?.sshPort})`);
      }),
    );
    return mine;
  }

  /**
   * The lab's subnet (and only it) via QEMU's gateway, persistently: a connection forwarded in
   * from a lab container arrives from that container's address, and the guest must be able to
   * answer it. No default route: the guest still reaches nothing else (and restrict=on drops
   * anything it starts itself).
   */
  private async routeToLab(conn: SshConnection, m: VmHandle): Promise<void> {
    const subnet = m.lab.network.subnet;
    const dropIn = `# Written by patchlab: answers to the lab's machines (${subnet}) go back through QEMU.\n[Route]\nDestination=${subnet}\nGateway=10.0.2.2\n`;
    await conn.upload([{ path: "/etc/systemd/network/10-eth0.network.d/patchlab-lab.conf", content: dropIn }]);
    const r = await conn.exec(["ip", "-4", "route", "replace", subnet, "via", "10.0.2.2", "dev", "eth0"]);
    if (r.exitCode !== 0) throw new LabError("network", `cannot route ${m.spec.name}'s answers to the lab subnet ${subnet}: ${r.stderr.trim()}`, "check the VM image's network setup (eth0 at 10.0.2.15)", { machine: m.spec.name });
  }

  private async savevm(m: VmHandle, label: string): Promise<void> {
    // The harness's own session is not part of the machine's state.
    this.connect(m).close();
    const t0 = Date.now();
    await this.qmp(m, (q) => q.hmp(`savevm ${label}`)).catch((e: Error) => {
      throw new LabError("snapshot", `savevm ${label} of ${m.spec.name} failed: ${e.message}`, "check free disk space under the state directory", { machine: m.spec.name }, { cause: e });
    });
    this.time("savevm", m.spec.name, t0);
  }

  async status(lab: Lab): Promise<MachineStatus[]> {
    const pki = await this.pki(lab);
    return Promise.all(
      this.handlesFor(lab).map(async (m): Promise<MachineStatus> => {
        const base = { machine: m.spec.name, container: m.container, roles: m.spec.roles };
        if (!this.running(m)) {
          const state = fs.existsSync(this.files(m).overlay) ? "stopped" : "absent";
          return { ...base, state, health: m.spec.roles.map((role) => ({ role, healthy: false, detail: `VM ${state}` })) };
        }
        const target = { machine: m.spec.name, ip: m.ip, conn: this.connect(m) };
        const health = await Promise.all(
          m.spec.roles.map(async (role) => {
            const r = await probeAll(machineReadiness({ ...m, spec: { ...m.spec, roles: [role] } }, pki), target);
            return { role, healthy: r.ok, detail: r.detail };
          }),
        );
        return { ...base, state: "running", ip: m.ip, health };
      }),
    );
  }

  async snapshot(m: MachineHandle, label: string, runId?: string): Promise<SnapshotRef> {
    const h = this.mustBeVm(m);
    if (!LABEL_RE.test(label) || label === PROVISIONED) throw new LabError("harness", `snapshot label "${label}" is not usable`, "use letters, digits, '.', '_' and '-'", { machine: h.spec.name });
    if (!this.running(h)) throw new LabError("snapshot", `cannot snapshot ${h.spec.name}: its VM is not running`, "bring the lab up first: `patchlab lab up`", { machine: h.spec.name });
    await this.savevm(h, label);
    const createdAt = new Date().toISOString();
    this.writeSnaps(h, (s) => [...s.filter((x) => x.label !== label), { label, createdAt, ...(runId ? { runId, owner: ownerToken() } : {}) }]);
    return { lab: h.lab.name, machine: h.spec.name, label, ref: label, createdAt, ...(runId ? { runId } : {}) };
  }

  async restore(m: MachineHandle, ref: SnapshotRef, deadline: number): Promise<void> {
    const h = this.mustBeVm(m);
    const conn = this.connect(h);
    conn.close();
    const t0 = Date.now();
    if (this.running(h)) {
      await this.loadvm(h, ref.ref);
    } else {
      // The VM is down (crashed, or stopped by `lab down`): start it from the snapshot.
      const st = this.state(h);
      const img = st && (await ensureVmImage(h.spec.vm.image));
      if (!st || !img || img.hash !== st.imageHash) {
        throw new LabError("restore", `${h.spec.name} cannot be restored: its VM is gone and its image changed or is unknown`, "bring the lab up again (`patchlab lab up`); the old snapshots belong to the old image", { machine: h.spec.name });
      }
      await this.start(h, img, st.accel, ref.ref);
    }
    this.time("loadvm", h.spec.name, t0);
    await this.syncClock(h);
    this.time("restore to SSH", h.spec.name, t0);
    await conn.waitUntilReady(deadline);
    this.time("restore to ready", h.spec.name, t0);
  }

  /** loadvm on the running VM, leaving it running. */
  async loadvm(m: MachineHandle, label: string): Promise<void> {
    this.conns.get(`${m.lab.name}/${m.spec.name}`)?.close();
    await this.qmp(m, async (q) => {
      await q.hmp(`loadvm ${label}`);
      const st = await q.execute<{ status: string }>("query-status");
      if (st.status !== "running") await q.execute("cont");
    }).catch((e: Error) => {
      throw new LabError("restore", `loadvm ${label} of ${m.spec.name} failed: ${e.message}`, "list the VM's snapshots with `patchlab lab snapshots`", { machine: m.spec.name }, { cause: e });
    });
  }

  async snapshots(lab: Lab): Promise<SnapshotRef[]> {
    return this.handlesFor(lab)
      .flatMap((m) => this.readSnaps(m).map((s) => ({ lab: lab.name, machine: m.spec.name, label: s.label, ref: s.label, createdAt: s.createdAt, ...(s.runId ? { runId: s.runId } : {}) })))
      .sort((a, b) => a.createdAt.localeCompare(b.createdAt));
  }

  async deleteSnapshot(ref: SnapshotRef): Promise<void> {
    const m = { spec: { name: ref.machine }, lab: { name: ref.lab } } as MachineHandle;
    const f = this.files(m);
    const s = this.state(m);
    if (s && qemuAlive(s.pid, s.name)) {
      await this.qmp(m, (q) => q.hmp(`delvm ${ref.ref}`)).catch((e: Error) => {
        if (!/not found|does not exist/i.test(e.message)) throw new LabError("snapshot", `delvm ${ref.ref} of ${ref.machine} failed: ${e.message}`, "retry; `qemu-img snapshot -l` lists what the overlay holds", { machine: ref.machine });
      });
    } else if (fs.existsSync(f.overlay) && (await this.internalSnapshots(m)).includes(ref.ref)) {
      await run("qemu-img", ["snapshot", "-d", ref.ref, f.overlay]);
    }
    if (fs.existsSync(f.dir)) this.writeSnaps(m, (x) => x.filter((y) => y.label !== ref.label));
  }

  /**
   * Stops the lab's VMs. Their overlays (with the snapshots inside) stay, so a later `up`
   * starts from the provisioned snapshot in about a second; purge removes everything.
   */
  async down(lab: Lab, opts: { purgeSnapshots?: boolean } = {}): Promise<void> {
    for (const m of this.handlesFor(lab)) {
      await this.stop(m);
      this.conns.delete(`${lab.name}/${m.spec.name}`);
      const f = this.files(m);
      if (opts.purgeSnapshots) fs.rmSync(f.dir, { recursive: true, force: true });
      else fs.rmSync(f.qmp, { force: true });
    }
    if (opts.purgeSnapshots) fs.rmSync(path.join(vmsRoot(), lab.name), { recursive: true, force: true });
  }
}

/** Takes a VM's lab address off the bridge (gone already when the lab network was removed). */
function leaveLabNetwork(b: { address: string; dev: string }): void {
  spawnSync("ip", ["-4", "addr", "del", `${b.address}/32`, "dev", b.dev], { stdio: "ignore" });
}

function portFree(address: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = net.createServer();
    srv.once("error", () => resolve(false));
    srv.listen(port, address, () => srv.close(() => resolve(true)));
  });
}

/**
 * After a crash: a running VM with a run snapshot whose owner process is gone is put back to
 * that snapshot (loadvm), which is then deleted, as the container reaper restores containers.
 * A VM that is not running needs nothing: `up` starts it from its provisioned snapshot.
 */
export async function reapVmRunSnapshots(log: Logger = nullLogger): Promise<{ restored: string[]; failed: { snapshot: string; error: string }[] }> {
  const restored: string[] = [];
  const failed: { snapshot: string; error: string }[] = [];
  if (!fs.existsSync(vmsRoot())) return { restored, failed };
  const driver = new VmDriver();
  for (const lab of fs.readdirSync(vmsRoot())) {
    for (const machine of fs.readdirSync(path.join(vmsRoot(), lab))) {
      const m = { spec: { name: machine }, lab: { name: lab } } as MachineHandle;
      if (!driver.running(m)) continue;
      let snaps: SnapMeta[];
      try {
        snaps = JSON.parse(fs.readFileSync(path.join(vmsRoot(), lab, machine, "snapshots.json"), "utf8")) as SnapMeta[];
      } catch {
        continue;
      }
      // The oldest abandoned run snapshot is the state before that run touched the machine.
      const abandoned = snaps.filter((x) => x.runId && x.owner && !ownerAlive(x.owner)).sort((a, b) => a.createdAt.localeCompare(b.createdAt));
      if (abandoned.length === 0) continue;
      const first = abandoned[0]!;
      const name = `${lab}/${machine}:${first.label}`;
      try {
        await driver.loadvm(m, first.label);
        for (const x of abandoned) await driver.deleteSnapshot({ lab, machine, label: x.label, ref: x.label, createdAt: x.createdAt });
        log.info("restored a VM left by a dead run", { snapshot: name });
        restored.push(name);
      } catch (e) {
        failed.push({ snapshot: name, error: (e as Error).message });
      }
    }
  }
  return { restored, failed };
}

/**
 * Stops and removes the VMs of ephemeral runs whose owner process is gone (what the
 * container reaper does for containers). Returns the machines removed.
 */
export async function reapVms(): Promise<string[]> {
  const removed: string[] = [];
  if (!fs.existsSync(vmsRoot())) return removed;
  for (const lab of fs.readdirSync(vmsRoot())) {
    for (const machine of fs.readdirSync(path.join(vmsRoot(), lab))) {
      const dir = path.join(vmsRoot(), lab, machine);
      let st: VmState;
      try {
        st = JSON.parse(fs.readFileSync(path.join(dir, "vm.json"), "utf8")) as VmState;
      } catch {
        continue;
      }
      if (!st.ephemeral || ownerAlive(st.owner)) continue;
      if (st.bridged) leaveLabNetwork(st.bridged);
      if (qemuAlive(st.pid, st.name)) {
        try { process.kill(st.pid, "SIGKILL"); } catch { /* gone */ }
        await waitGone(st.pid, st.name, 5000);
      }
      fs.rmSync(dir, { recursive: true, force: true });
      removed.push(`${lab}/${machine}`);
    }
  }
  return removed;
}
