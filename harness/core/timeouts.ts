// Deadlines of external calls, in one table so a person can see (and a slow host can raise)
// every one of them: PATCHLAB_TIMEOUT_<NAME>_MS, e.g. PATCHLAB_TIMEOUT_DPKG_DEB_MS=600000.
import { ConfigError } from "./errors.ts";

export const DEFAULT_TIMEOUTS = {
  /** apt-get update / install on the harness host (doctor --fix). */
  "apt-get": 900_000,
  /** dpkg-deb building or reading a patch's package. */
  "dpkg-deb": 120_000,
  /** openssl making the lab CA or a server certificate. */
  "openssl": 30_000,
  /** One HTTP readiness probe, from connect to the response headers. */
  "http-probe": 5_000,
  /** Docker engine calls answer fast unless the engine is stuck (per call kind: docker-engine.ts). */
  "engine-quick": 30_000,
  "engine-change": 120_000,
  "engine-slow": 300_000,
} as const;
export type TimeoutName = keyof typeof DEFAULT_TIMEOUTS;

export function envNameFor(name: string): string {
  return `PATCHLAB_TIMEOUT_${name.toUpperCase().replace(/[^A-Z0-9]+/g, "_")}_MS`;
}

/** The deadline for `name` in ms: the default, or its environment override (a positive whole number). */
export function timeoutMs(name: TimeoutName): number {
  const env = envNameFor(name);
  const raw = process.env[env];
  if (raw === undefined || raw === "") return DEFAULT_TIMEOUTS[name];
  const n = Number(raw);
  if (!/^\d+$/.test(raw.trim()) || !Number.isSafeInteger(n) || n <= 0) {
    throw new ConfigError(`environment variable ${env}=${JSON.stringify(raw)} is not a positive whole number of milliseconds`, `set ${env} to a whole number greater than 0, or unset it (default ${DEFAULT_TIMEOUTS[name]})`, { field: env, value: raw });
  }
  return n;
}
