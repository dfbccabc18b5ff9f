// The ssh LabDriver: machines that already exist (a server, or a VM some other tool manages),
// reached only over SSH. It never creates or removes a machine. Snapshots go through the
// hooks the lab file declares (run on the harness host: virsh, qm, a script); without hooks
// a snapshot is "not possible" (a typed outcome, see snapshot-check.ts) and the run rolls
// back by uninstall.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { driverOf, type Lab, type SshMachine } from "../../config/schemas.ts";
import { LabError } from "../../core/errors.ts";
import { ownerAlive, ownerToken } from "../../core/owner.ts";
import { nullLogger, type Logger } from "../../core/log.ts";
import { configRoot, stateDir } from "../../core/paths.ts";
import { probeAll, waitUntil } from "../../readiness/wait.ts";
import { assignAddresses, fqdn } from "../addressing.ts";
import { labPki } from "../pki.ts";
import { ensureProvisioned } from "../provisioning.ts";
import { machineReadiness } from "../roles/index.ts";
import type { LabPki } from "../roles/types.ts";
import { notPossibleRef, SnapshotNotPossible } from "../snapshot-check.ts";
import { sshCredentials } from "../transports/secrets.ts";
import { SshConnection } from "../transports/ssh.ts";
import type { LabDriver, MachineHandle, MachineStatus, SnapshotRef, UpOptions } from "../types.ts";
import { runHook, type HookKind, type HookVars } from "./ssh-hooks.ts";

export interface SshDriverOptions {
  log?: (machine: string) => Logger;
  onProgress?: (line: string) => void;
  /** Lab secrets file (default $PATCHLAB_SECRETS_FILE, else <state>/secrets.yaml); its machines: section. */
  secretsFile?: string;
}

type SshHandle = MachineHandle & { spec: SshMachine };

interface HookCall {
  argv: string[];
  vars: HookVars;
  timeoutMs: number;
}

/**
 * A snapshot taken through hooks, with the hooks as expanded for it and the process that took
 * it: deleteSnapshot and the reaper (after a crash) need nothing but this record.
 */
interface IndexEntry {
  ref: SnapshotRef;
  owner?: string;
  restoreHook?: HookCall;
  deleteHook?: HookCall;
}

export function sshIndexDir(): string {
  return path.join(stateDir(), "ssh-snapshots");
}

const isSsh = (m: MachineHandle): m is SshHandle => driverOf(m.spec) === "ssh";

/** known_hosts path from the lab file: absolute, ~/..., or relative to lab-config/. */
export function resolveKnownHosts(p: string | undefined): string {
  if (!p) return path.join(os.homedir(), ".ssh", "known_hosts");
  if (p === "~" || p.startsWith("~/")) return path.join(os.homedir(), p.slice(2));
  return path.resolve(configRoot(), p);
}

export class SshDriver implements LabDriver {
  private readonly conns = new Map<string, SshConnection>();
  private readonly pkis = new Map<string, Promise<LabPki>>();

  constructor(private readonly opts: SshDriverOptions = {}) {}

  private log(machine: string): Logger {
    return this.opts.log?.(machine) ?? nullLogger;
  }

  private pki(lab: Lab): Promise<LabPki> {
    let p = this.pkis.get(lab.name);
    if (!p) this.pkis.set(lab.name, (p = labPki(stateDir(), lab)));
    return p;
  }

  /** The lab's ssh machines: reached at ssh.host (the address probes use too). */
  handlesFor(lab: Lab): SshHandle[] {
    const ips = assignAddresses(lab);
    return lab.machines.flatMap((spec) => {
      if (spec.driver !== "ssh") return [];
      const s = spec.ssh;
      return [{ spec, lab, container: `ssh://${s.user}@${s.host}:${s.port}`, ip: s.host || ips.get(spec.name)!, fqdn: fqdn(lab, spec.name) }];
    });
  }

  async handles(lab: Lab): Promise<MachineHandle[]> {
    return this.handlesFor(lab);
  }

  private mustBeSsh(m: MachineHandle): SshHandle {
    if (!isSsh(m)) throw new LabError("harness", `machine ${m.spec.name} is not an ssh machine`, "use the driver of its `driver:` (driverFor)", { machine: m.spec.name });
    return m;
  }

  connect(m: MachineHandle): SshConnection {
    const h = this.mustBeSsh(m);
    const key = `${h.lab.name}/${h.spec.name}`;
    let c = this.conns.get(key);
    if (!c) {
      const s = h.spec.ssh;
      const hooks = s.hooks;
      c = new SshConnection({
        machine: h.spec.name,
        endpoint: {
          host: s.host,
          port: s.port,
          user: s.user,
          knownHostsFile: resolveKnownHosts(s.knownHosts),
          trustOnFirstUse: s.trustOnFirstUse,
          credentials: () => sshCredentials(s.credentials ?? h.spec.name, this.opts.secretsFile ? { file: this.opts.secretsFile } : {}),
        },
        ready: (deadline) => this.waitRoles(h, deadline),
        ...(hooks?.restart ? { restartHook: async () => { await this.hook(h, "restart", "restart"); } } : {}),
        log: this.log(h.spec.name),
      });
      this.conns.set(key, c);
    }
    return c;
  }

  private async waitRoles(m: SshHandle, deadline: number): Promise<void> {
    const strategies = machineReadiness(m, await this.pki(m.lab));
    await waitUntil(strategies, { machine: m.spec.name, ip: m.ip, conn: this.connect(m) }, deadline);
  }

  private vars(m: SshHandle, label: string): HookVars {
    const s = m.spec.ssh;
    return { lab: m.lab.name, machine: m.spec.name, host: s.host, port: String(s.port), user: s.user, label };
  }

  private async hook(m: SshHandle, kind: HookKind, label: string): Promise<void> {
    const hooks = m.spec.ssh.hooks;
    const argv = hooks?.[kind];
    if (!hooks || !argv) throw new LabError("harness", `machine ${m.spec.name} has no ${kind} hook`, `declare ssh.hooks.${kind} in the lab file`, { machine: m.spec.name });
    await runHook(kind, argv, this.vars(m, label), { machine: m.spec.name, timeoutMs: hooks.timeoutSeconds * 1000, log: this.log(m.spec.name) });
  }

  /**
   * Reaches every ssh machine, provisions its roles (idempotent: a machine carrying the mark
   * for this lab layout is left alone) and waits for them. Creates nothing.
   */
  async up(lab: Lab, opts: UpOptions): Promise<MachineHandle[]> {
    const mine = this.handlesFor(lab);
    const all = opts.machines ?? mine;
    const pki = await this.pki(lab);
    const ctx = { machines: all, pki, connect: (x: MachineHandle) => this.connect(x) };
    await Promise.all(
      mine.map(async (m) => {
        const conn = this.connect(m);
        await conn.waitUntilReachable(opts.deadline);
        const log = this.log(m.spec.name);
        if (await ensureProvisioned(conn, m, ctx, { onRole: (role) => log.info("provisioning role", { role }) })) log.info("provisioned", { roles: m.spec.roles });
        await this.waitRoles(m, opts.deadline);
        this.opts.onProgress?.(`${m.spec.name}: ready (${m.spec.roles.join(", ")}) at ${m.container}`);
      }),
    );
    return mine;
  }

  async status(lab: Lab): Promise<MachineStatus[]> {
    const pki = await this.pki(lab);
    return Promise.all(
      this.handlesFor(lab).map(async (m): Promise<MachineStatus> => {
        const conn = this.connect(m);
        const up = await conn.exec(["true"], { timeoutMs: 5000 }).then((r) => r.exitCode === 0, () => false);
        const base = { machine: m.spec.name, container: m.container, roles: m.spec.roles };
        if (!up) return { ...base, state: "absent", health: m.spec.roles.map((role) => ({ role, healthy: false, detail: "unreachable over SSH" })) };
        const target = { machine: m.spec.name, ip: m.ip, conn };
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

  private indexFile(lab: string): string {
    return path.join(sshIndexDir(), `${lab}.json`);
  }

  /**
   * Snapshots taken through hooks, each with what deleting it needs (the delete hook as
   * expanded for it), so deleteSnapshot and the reaper need nothing but the index.
   */
  private readIndex(lab: string): IndexEntry[] {
    try {
      return JSON.parse(fs.readFileSync(this.indexFile(lab), "utf8")) as IndexEntry[];
    } catch {
      return [];
    }
  }

  /** Synchronous read-modify-write: machines snapshotting in parallel cannot interleave. */
  private updateIndex(lab: string, f: (entries: IndexEntry[]) => IndexEntry[]): void {
    const file = this.indexFile(lab);
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(`${file}.tmp`, JSON.stringify(f(this.readIndex(lab)), null, 2) + "\n");
    fs.renameSync(`${file}.tmp`, file);
  }

  async snapshot(m: MachineHandle, label: string, runId?: string): Promise<SnapshotRef> {
    const h = this.mustBeSsh(m);
    if (!h.spec.ssh.hooks) {
      this.log(h.spec.name).warn("no snapshot hooks: snapshot check not possible", {});
      return notPossibleRef(h.lab.name, h.spec.name, label, `machine ${h.spec.name} has no snapshot hooks (ssh.hooks) in the lab file`, runId);
    }
    await this.hook(h, "snapshot", label);
    const ref: SnapshotRef = { lab: h.lab.name, machine: h.spec.name, label, ref: label, createdAt: new Date().toISOString(), ...(runId ? { runId } : {}) };
    const hooks = h.spec.ssh.hooks;
    const call = (argv: string[]): HookCall => ({ argv, vars: this.vars(h, label), timeoutMs: hooks.timeoutSeconds * 1000 });
    const entry: IndexEntry = { ref, owner: ownerToken(), restoreHook: call(hooks.restore), ...(hooks.delete ? { deleteHook: call(hooks.delete) } : {}) };
    this.updateIndex(h.lab.name, (es) => [...es.filter((e) => !(e.ref.machine === ref.machine && e.ref.label === label)), entry]);
    return ref;
  }

  async restore(m: MachineHandle, ref: SnapshotRef, deadline: number): Promise<void> {
    const h = this.mustBeSsh(m);
    if (ref.notPossible !== undefined) throw new SnapshotNotPossible(h.spec.name, ref.notPossible);
    if (!h.spec.ssh.hooks) throw new SnapshotNotPossible(h.spec.name, "the lab file declares no snapshot hooks for it");
    const conn = this.connect(h);
    conn.close();
    await this.hook(h, "restore", ref.label);
    // The machine's sessions died with the state they belonged to: a new one, then the roles.
    conn.close();
    await conn.waitUntilReady(deadline);
  }

  async snapshots(lab: Lab): Promise<SnapshotRef[]> {
    return this.readIndex(lab.name).map((e) => e.ref).sort((a, b) => a.createdAt.localeCompare(b.createdAt));
  }

  async deleteSnapshot(ref: SnapshotRef): Promise<void> {
    if (ref.notPossible !== undefined) return;
    const entry = this.readIndex(ref.lab).find((e) => e.ref.machine === ref.machine && e.ref.label === ref.label);
    if (!entry) return;
    if (entry.deleteHook) {
      const d = entry.deleteHook;
      await runHook("delete", d.argv, d.vars, { machine: ref.machine, timeoutMs: d.timeoutMs, log: this.log(ref.machine) });
    } else {
      this.log(ref.machine).warn("no delete hook: the hypervisor keeps the snapshot", { label: ref.label });
    }
    this.updateIndex(ref.lab, (es) => es.filter((e) => !(e.ref.machine === ref.machine && e.ref.label === ref.label)));
  }

  /** Existing machines are not ours to remove: down closes sessions (and with purge deletes the lab's snapshots). */
  async down(lab: Lab, opts: { purgeSnapshots?: boolean } = {}): Promise<void> {
    for (const m of this.handlesFor(lab)) {
      this.conns.get(`${lab.name}/${m.spec.name}`)?.close();
      this.conns.delete(`${lab.name}/${m.spec.name}`);
    }
    if (opts.purgeSnapshots) for (const s of await this.snapshots(lab)) await this.deleteSnapshot(s);
  }
}

/**
 * After a crash: every run snapshot (one with a runId) whose taking process is gone is
 * restored through its recorded restore hook (the machine goes back to before the run), then
 * deleted. Returns "lab/machine:label" of each restored machine; failures are reported, and
 * their entries kept for the next attempt.
 */
export async function reapSshSnapshots(log: Logger = nullLogger): Promise<{ restored: string[]; failed: { snapshot: string; error: string }[] }> {
  const restored: string[] = [];
  const failed: { snapshot: string; error: string }[] = [];
  if (!fs.existsSync(sshIndexDir())) return { restored, failed };
  for (const f of fs.readdirSync(sshIndexDir()).filter((x) => x.endsWith(".json"))) {
    const file = path.join(sshIndexDir(), f);
    let entries: IndexEntry[];
    try {
      entries = JSON.parse(fs.readFileSync(file, "utf8")) as IndexEntry[];
    } catch {
      continue;
    }
    const done = new Set<IndexEntry>();
    for (const e of entries) {
      if (!e.ref.runId || !e.owner || ownerAlive(e.owner) || !e.restoreHook) continue;
      const name = `${e.ref.lab}/${e.ref.machine}:${e.ref.label}`;
      try {
        await runHook("restore", e.restoreHook.argv, e.restoreHook.vars, { machine: e.ref.machine, timeoutMs: e.restoreHook.timeoutMs, log });
        if (e.deleteHook) await runHook("delete", e.deleteHook.argv, e.deleteHook.vars, { machine: e.ref.machine, timeoutMs: e.deleteHook.timeoutMs, log });
        restored.push(name);
        done.add(e);
      } catch (err) {
        failed.push({ snapshot: name, error: (err as Error).message });
      }
    }
    if (done.size) {
      fs.writeFileSync(`${file}.tmp`, JSON.stringify(entries.filter((e) => !done.has(e)), null, 2) + "\n");
      fs.renameSync(`${file}.tmp`, file);
    }
  }
  return { restored, failed };
}
