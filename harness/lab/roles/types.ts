// A role module is the thin per-service part of the lab: what "ready" and "healthy" mean
// for the role, and the per-lab provisioning it needs once the machine runs (certificates,
// DNS zone...). Everything engine-specific stays in the driver.
import type { ServerRole } from "../../config/schemas.ts";
import type { WaitStrategy } from "../../readiness/wait.ts";
import type { Connection, MachineHandle } from "../types.ts";

export interface LabPki {
  /** PEM of the lab CA certificate (what clients trust). */
  caCertPem: string;
  /** Host path of the CA certificate, for the harness's own HTTPS clients and browsers. */
  caCertPath: string;
  /** Issue a server certificate for these DNS names (first one is the CN). */
  issue(names: string[]): Promise<{ certPem: string; keyPem: string }>;
}

export interface ProvisionContext {
  machines: MachineHandle[];
  pki: LabPki;
  connect(m: MachineHandle): Connection;
}

export interface RoleModule {
  role: ServerRole;
  /** Checks that pass when the role serves; used both to wait for readiness and for `lab status`. */
  readiness(m: MachineHandle, pki: LabPki): WaitStrategy[];
  /**
   * One-time setup after the machine first starts in a lab (idempotent: running it twice
   * leaves the same state). Snapshots are taken after it, so restores keep its work.
   */
  provision?(conn: Connection, m: MachineHandle, ctx: ProvisionContext): Promise<void>;
  /**
   * Log files the role's services write (globs allowed), for the log watcher (harness/watch/).
   * `errorPattern` (a case-insensitive regex) says which lines of that file are error-level,
   * over the watch policy's pattern.
   */
  logs?: RoleLog[];
}

export interface RoleLog {
  path: string;
  errorPattern?: string;
}
