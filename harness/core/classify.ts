// Which kind of lab trouble an error is, from what node, the engine or a tool said. The kind
// decides the remedy and whether a retry can help; none of these is ever a patch's fault.
// Type-only imports: errors.ts uses this module, so it must not need errors.ts at run time.
import type { LabErrorKind } from "./errors.ts";

interface Rule {
  kind: LabErrorKind;
  codes?: string[];
  message?: RegExp;
}

// Order matters: the first rule that matches wins (a timeout that dropped the socket is a timeout).
const RULES: Rule[] = [
  { kind: "timeout", codes: ["ETIMEDOUT", "ESOCKETTIMEDOUT", "UND_ERR_CONNECT_TIMEOUT", "UND_ERR_HEADERS_TIMEOUT"], message: /\btimed? ?out\b|deadline exceeded/i },
  { kind: "disk-full", codes: ["ENOSPC", "EDQUOT"], message: /no space left on device|disk quota exceeded/i },
  { kind: "engine-unreachable", codes: ["ECONNREFUSED", "EHOSTUNREACH", "ENETUNREACH", "EAI_AGAIN"], message: /cannot connect to the docker daemon|is the docker daemon running/i },
  { kind: "connection-dropped", codes: ["ECONNRESET", "EPIPE", "ECONNABORTED", "UND_ERR_SOCKET"], message: /socket hang up|connection reset|premature close|unexpected end of/i },
  { kind: "machine-killed", message: /container [0-9a-f]+ is not running|is not running|is restarting|no such container|has been removed|OOMKilled/i },
];

/** The kind of lab trouble `err` shows, or undefined when it is not recognisably one. */
export function classifyError(err: unknown): LabErrorKind | undefined {
  const own = err as { name?: unknown; kind?: unknown; exitCode?: unknown } | null;
  if (own && own.name === "LabError" && typeof own.kind === "string") return own.kind as LabErrorKind;
  if (own && typeof own.exitCode === "number") return undefined; // a ConfigError or PatchError says what it is
  for (let e: unknown = err, depth = 0; e && depth < 5; e = (e as { cause?: unknown }).cause, depth++) {
    const code = (e as { code?: unknown }).code;
    const message = e instanceof Error ? e.message : typeof e === "string" ? e : "";
    // The engine socket missing (ENOENT on connect) is an engine that is not there.
    if (code === "ENOENT" && (e as { syscall?: string }).syscall === "connect") return "engine-unreachable";
    for (const r of RULES) {
      if ((typeof code === "string" && r.codes?.includes(code)) || (r.message && r.message.test(message))) return r.kind;
    }
  }
  return undefined;
}

export const REMEDIES: Partial<Record<LabErrorKind, string>> = {
  "timeout": "the engine or machine is overloaded or stuck: check that `docker info` answers quickly; restart the engine if it does not; fewer machines at once (or a longer deadline) helps a slow host",
  "disk-full": "free disk space: `docker system df` shows what the engine holds, `patchlab lab down --purge` removes a lab's snapshots; check the reports directory's filesystem too",
  "engine-unreachable": "start the Docker engine (`npx patchlab doctor --fix` starts dockerd as root on Debian), or point DOCKER_HOST at one",
  "connection-dropped": "the engine connection broke (engine restarted or overloaded): retry; if it persists look at the engine's log",
  "machine-killed": "a lab machine stopped under the run (out of memory, engine restart, someone removed it): `patchlab lab status` shows it; `patchlab lab up` recreates it",
};
