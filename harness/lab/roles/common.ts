// Helpers shared by the role modules.
import type { ServerRole } from "../../config/schemas.ts";
import { LabError } from "../../core/errors.ts";
import type { WaitStrategy } from "../../readiness/wait.ts";
import type { Connection, ExecOptions, ExecResult, MachineHandle } from "../types.ts";

export function hasRole(m: MachineHandle, role: ServerRole): boolean {
  return m.spec.roles.includes(role);
}

/** Machines playing a role, by name (a stable order: provisioning must be idempotent). */
export function machinesWithRole(machines: MachineHandle[], role: ServerRole): MachineHandle[] {
  return machines.filter((m) => hasRole(m, role)).sort((a, b) => (a.spec.name < b.spec.name ? -1 : a.spec.name > b.spec.name ? 1 : 0));
}

/**
 * The web machine `www.<domain>` points at: the first web machine in the lab file's order,
 * unless a machine is itself called www.
 */
export function wwwTarget(machines: MachineHandle[]): MachineHandle | undefined {
  if (machines.some((m) => m.spec.name === "www")) return undefined;
  const order = machines[0]?.lab.machines.map((s) => s.name) ?? [];
  return machines
    .filter((m) => hasRole(m, "web"))
    .sort((a, b) => order.indexOf(a.spec.name) - order.indexOf(b.spec.name))[0];
}

/** Runs a command and throws a LabError naming the step when it exits non-zero. */
export async function mustExec(conn: Connection, step: string, cmd: string | string[], opts: ExecOptions = {}): Promise<ExecResult> {
  const r = await conn.exec(cmd, { timeoutMs: 60_000, ...opts });
  if (r.exitCode !== 0) {
    const out = (r.stdout + r.stderr).trim().split("\n").slice(-10).join("\n");
    throw new LabError(
      "machine-start",
      `${step} on ${conn.machine} failed (exit ${r.exitCode}): ${out}`,
      `look at the machine (\`docker exec\` into it, \`docker logs\`); the image recipe may need fixing`,
      { machine: conn.machine },
    );
  }
  return r;
}

/** Polls fn until it returns true or timeoutMs passes; returns whether it succeeded. */
export async function pollUntil(fn: () => Promise<boolean>, timeoutMs: number, intervalMs = 100): Promise<boolean> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    if (await fn().catch(() => false)) return true;
    if (Date.now() + intervalMs > end) return false;
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

/** Single-quotes a string for sh. */
export function shq(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

/**
 * Passes inside a machine once patchlab-init has started its services for this boot:
 * /run/patchlab/booted holds the start time of the container's PID 1 (a copy restored from
 * a snapshot holds another boot's and does not pass).
 */
export const BOOTED_CHECK = `test "$(cat /run/patchlab/booted 2>/dev/null)" = "$(cut -d' ' -f22 /proc/1/stat)"`;

/** Waits until patchlab-init has started the machine's services (provisioning needs them up). */
export async function waitBooted(conn: Connection, timeoutMs = 120_000): Promise<void> {
  const ok = await pollUntil(async () => (await conn.exec(BOOTED_CHECK, { timeoutMs: 5000 })).exitCode === 0, timeoutMs, 100);
  if (!ok) {
    throw new LabError(
      "readiness-timeout",
      `${conn.machine} did not finish booting (patchlab-init never wrote /run/patchlab/booted) within ${Math.round(timeoutMs / 1000)} s`,
      "look at `docker logs` of the machine: a service's init script may hang",
      { machine: conn.machine },
    );
  }
}

/**
 * Like readiness's `command`, for probes that log in: the secrets travel in the command's
 * environment, and neither the command line nor the secrets appear in any message.
 */
export function commandWithSecrets(cmd: string, env: Record<string, string>, label: string): WaitStrategy {
  return {
    describe: () => label,
    probe: async (t) => {
      try {
        const r = await t.conn.exec(cmd, { timeoutMs: 5000, env });
        const out = redact((r.stdout + r.stderr).trim().split("\n").slice(-1)[0] ?? "", env);
        return { ok: r.exitCode === 0, detail: `${label} -> exit ${r.exitCode}${out ? `: ${out.slice(0, 200)}` : ""}` };
      } catch {
        return { ok: false, detail: `${label}: could not run the probe on ${t.machine}` };
      }
    },
  };
}

/** Replaces every secret value in `text` with `***`. */
export function redact(text: string, secrets: Record<string, string>): string {
  let out = text;
  for (const v of Object.values(secrets)) if (v) out = out.split(v).join("***");
  return out;
}
