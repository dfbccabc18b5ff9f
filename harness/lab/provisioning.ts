// Role provisioning over any Connection (container, VM, server over SSH): each role's
// provision step once, then a mark recording for which lab layout and CA it was done, so a
// machine already provisioned for the same layout is left alone.
import crypto from "node:crypto";
import { roleModule } from "./roles/index.ts";
import type { LabPki, ProvisionContext } from "./roles/types.ts";
import type { Connection, MachineHandle } from "./types.ts";

export const PROVISION_MARK = "/etc/patchlab/provisioned";

/** What provisioning depends on: the lab's domain, every machine's name, address and roles, and the CA. */
export function provisionKey(all: MachineHandle[], pki: LabPki): string {
  const h = crypto.createHash("sha256");
  h.update(JSON.stringify({ lab: all[0]?.lab.domain, machines: all.map((x) => [x.spec.name, x.ip, x.spec.roles]) }));
  h.update(pki.caCertPem);
  return h.digest("hex").slice(0, 16);
}

/**
 * Sets the lab's current passwords on a machine provisioned earlier (the secrets may have
 * changed since, e.g. a lab up before passwords came from the secrets file).
 */
export async function applyCredentials(conn: Connection, m: MachineHandle): Promise<void> {
  for (const role of m.spec.roles) await roleModule(role).credentials?.(conn, m);
}

export async function isProvisioned(conn: Connection, key: string): Promise<boolean> {
  const r = await conn.exec(["cat", PROVISION_MARK], { timeoutMs: 15_000 }).catch(() => undefined);
  return r?.exitCode === 0 && r.stdout.trim() === key;
}

/**
 * Runs the provision step of each role the machine plays (in the order listed) unless the
 * machine carries the mark for this layout; returns whether it provisioned.
 */
export async function ensureProvisioned(conn: Connection, m: MachineHandle, ctx: ProvisionContext, opts: { onRole?: (role: string) => void } = {}): Promise<boolean> {
  const key = provisionKey(ctx.machines, ctx.pki);
  if (await isProvisioned(conn, key)) {
    await applyCredentials(conn, m);
    return false;
  }
  for (const role of m.spec.roles) {
    const mod = roleModule(role);
    if (!mod.provision) continue;
    opts.onRole?.(role);
    await mod.provision(conn, m, ctx);
  }
  await conn.upload([{ path: PROVISION_MARK, content: key + "\n" }]);
  return true;
}
