// Core lab contracts. A LabDriver makes and unmakes machines; a Connection talks to one.
// Docker is the first driver; SSH hosts and VMs come later behind the same interfaces.
import type { Lab, Machine } from "../config/schemas.ts";

export interface ExecOptions {
  timeoutMs?: number;
  /** Bytes written to the command's stdin. */
  stdin?: string | Buffer;
  user?: string;
  env?: Record<string, string>;
}

export interface ExecResult {
  exitCode: number;
  stdout: string;
  stderr: string;
  durationMs: number;
}

export interface FileToUpload {
  /** Absolute path inside the machine. */
  path: string;
  content: string | Buffer;
  mode?: number;
}

export interface Connection {
  readonly machine: string;
  /**
   * Runs a command. A string runs through `sh -c`; an array runs as argv. Resolves with the
   * exit code however the command ends; rejects (LabError kind "exec") only when the command
   * could not be run at all or timed out.
   */
  exec(cmd: string | string[], opts?: ExecOptions): Promise<ExecResult>;
  upload(files: FileToUpload[]): Promise<void>;
  download(path: string): Promise<Buffer>;
  /** Restart the whole machine (a patch that needs a reboot), then wait until ready. */
  restart(deadline: number): Promise<void>;
  waitUntilReady(deadline: number): Promise<void>;
}

/** A running lab machine as the driver knows it. */
export interface MachineHandle {
  spec: Machine;
  lab: Lab;
  /** Engine-side name: `patchlab-<lab>-<machine>`. */
  container: string;
  ip: string;
  fqdn: string;
  /**
   * The machine's address on the lab network when that differs from `ip` (a VM: `ip` is its
   * loopback address for the harness; containers reach it at `labIp` when the lab has a network
   * for it to join). The DNS zone and suites run from the client machine use this one.
   */
  labIp?: string;
}

export interface SnapshotRef {
  lab: string;
  machine: string;
  label: string;
  /** Engine reference (image id for Docker). */
  ref: string;
  createdAt: string;
  runId?: string;
  /**
   * Set (to the reason) when the driver could not take a real snapshot: an ssh machine without
   * snapshot hooks. Nothing was saved, restore() of it throws SnapshotNotPossible; the run rolls
   * the patch back by uninstall and reports the snapshot check as not possible (needs review),
   * never as passed. See harness/lab/snapshot-check.ts.
   */
  notPossible?: string;
}

export interface MachineStatus {
  machine: string;
  container: string;
  roles: string[];
  state: "running" | "stopped" | "absent";
  ip?: string;
  /** Where the machine runs: its Docker engine's endpoint (containers), or its driver. */
  engine?: string;
  /** Per role: healthy or not, with the reason when not. */
  health: { role: string; healthy: boolean; detail: string }[];
}

export interface UpOptions {
  runId: string;
  /** Deadline (epoch ms) for every machine to be ready. */
  deadline: number;
  /**
   * Every machine of the lab, from every driver (a mixed lab): provisioning needs them all
   * (the DNS zone, certificate names). Default: the driver's own machines.
   */
  machines?: MachineHandle[];
}

export interface LabDriver {
  up(lab: Lab, opts: UpOptions): Promise<MachineHandle[]>;
  handles(lab: Lab): Promise<MachineHandle[]>;
  status(lab: Lab): Promise<MachineStatus[]>;
  connect(machine: MachineHandle): Connection;
  snapshot(machine: MachineHandle, label: string, runId?: string): Promise<SnapshotRef>;
  restore(machine: MachineHandle, ref: SnapshotRef, deadline: number): Promise<void>;
  /**
   * A restore of `ref` will follow: a driver may get it ready in the background (a warm
   * standby), so that restore() need not wait for the machine to boot. Never throws.
   */
  prepareRestore?(machine: MachineHandle, ref: SnapshotRef): void;
  snapshots(lab: Lab): Promise<SnapshotRef[]>;
  deleteSnapshot(ref: SnapshotRef): Promise<void>;
  down(lab: Lab): Promise<void>;
}

/** What a machine's state is made of, for proving a restore exact. */
export interface Fingerprint {
  packages: Record<string, string>;
  files: Record<string, string>;
  listening: string[];
}
