// Role modules by role, and the per-machine helpers a driver needs (a machine may play
// several roles: its readiness is all of theirs, its provisioning each in turn).
import type { ServerRole } from "../../config/schemas.ts";
import { ConfigError } from "../../core/errors.ts";
import type { WaitStrategy } from "../../readiness/wait.ts";
import type { Connection, MachineHandle } from "../types.ts";
import { appRole } from "./app.ts";
import { clientRole } from "./client.ts";
import { dbRole } from "./db.ts";
import { dnsRole } from "./dns.ts";
import { fileRole } from "./file.ts";
import { sshRole } from "./ssh.ts";
import type { LabPki, ProvisionContext, RoleModule } from "./types.ts";
import { updatesRole } from "./updates.ts";
import { webRole } from "./web.ts";

const modules: Partial<Record<ServerRole, RoleModule>> = {
  web: webRole,
  dns: dnsRole,
  db: dbRole,
  file: fileRole,
  app: appRole,
  ssh: sshRole,
  client: clientRole,
  updates: updatesRole,
};

export function roleModule(role: ServerRole): RoleModule {
  const m = modules[role];
  if (!m) {
    throw new ConfigError(
      `role ${role} has no module yet`,
      `remove role ${role} from the lab's machines (roles with modules: ${Object.keys(modules).join(", ")})`,
      { field: "roles", value: role },
    );
  }
  return m;
}

/** Every readiness strategy of every role the machine plays. */
export function machineReadiness(m: MachineHandle, pki: LabPki): WaitStrategy[] {
  return m.spec.roles.flatMap((r) => roleModule(r).readiness(m, pki));
}

/** Runs the provision step of each role the machine plays, in the order the roles are listed. */
export async function provisionMachine(conn: Connection, m: MachineHandle, ctx: ProvisionContext): Promise<void> {
  for (const r of m.spec.roles) await roleModule(r).provision?.(conn, m, ctx);
}
