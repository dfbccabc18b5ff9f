// One place that knows how to reach the Docker engine, so "engine down" is always the
// same typed error with the same remedy, and no engine call can hang: every call made
// through docker() has a deadline (a stuck engine once held `lab down` forever on containers
// it listed but could not inspect), and idempotent calls are retried when the engine
// dropped the connection.
import Docker from "dockerode";
import { formatMs } from "../../core/child.ts";
import { classifyError, REMEDIES } from "../../core/classify.ts";
import { LabError } from "../../core/errors.ts";
import { ENGINE_RETRY, NO_RETRY, retry, type RetryPolicy } from "../../core/retry.ts";
import { timeoutMs } from "../../core/timeouts.ts";
import { defaultEngineUrl, dockerOptions, type EngineRef } from "./docker-engines.ts";

let cached: Docker | undefined;
/** Guarded clients of other engines (site engines), by endpoint: one per engine per process. */
const others = new Map<string, Docker>();

export function docker(): Docker {
  cached ??= guardEngine(new Docker(), { endpoint: defaultEngineUrl() }); // honours DOCKER_HOST, else /var/run/docker.sock
  return cached;
}

/** The guarded client of an engine: the default one, or a site's (unix, tcp with TLS, ssh). */
export function dockerFor(ref: Pick<EngineRef, "url" | "tls"> | undefined): Docker {
  if (!ref || ref.url === defaultEngineUrl()) return docker();
  let d = others.get(ref.url);
  if (!d) others.set(ref.url, (d = guardEngine(new Docker(dockerOptions(ref)), { endpoint: ref.url })));
  return d;
}

/** Every engine client this process made (the default one first): what a SIGINT cleanup reaps. */
export function enginesInUse(): Docker[] {
  return [docker(), ...others.values()];
}

/** The endpoint a guarded client talks to (for messages). */
export function endpointOf(d: Docker): string {
  return (d as unknown as { [ENDPOINT]?: string })[ENDPOINT] ?? defaultEngineUrl();
}
const ENDPOINT = Symbol.for("patchlab.engine-endpoint");

type Budget = "engine-quick" | "engine-change" | "engine-slow";
interface CallSpec {
  budget: Budget;
  /** Safe to repeat: reads, and removals where "already gone" (404) on a repeat means done. */
  idempotent?: boolean;
  /** A 404 on a repeated try means an earlier try did it (removals). */
  goneOk?: boolean;
  /** Index of the options argument the abort signal goes into (default 0). */
  optsAt?: number;
  /** What the call resolves to, to guard in turn (a created container, an exec). */
  wraps?: "container" | "network" | "image" | "exec";
}

const read: CallSpec = { budget: "engine-quick", idempotent: true };
const quick: CallSpec = { budget: "engine-quick" };
const change: CallSpec = { budget: "engine-change" };
const removal: CallSpec = { budget: "engine-change", idempotent: true, goneOk: true };
const slow: CallSpec = { budget: "engine-slow" };

// Streams (exec output, exports, builds) are guarded until the engine starts answering; what
// they stream afterwards is timed by their callers (Connection.exec has its own deadline).
const TABLES: Record<"engine" | "container" | "network" | "image" | "exec", Record<string, CallSpec>> = {
  engine: {
    ping: read, info: read, version: read, df: read,
    listContainers: read, listNetworks: read, listImages: read, listVolumes: read,
    createContainer: { ...change, wraps: "container" },
    createNetwork: { ...change, wraps: "network" },
    pruneImages: slow, pruneContainers: slow, pruneNetworks: slow,
    buildImage: { ...slow, optsAt: 1 },
  },
  container: {
    inspect: read, top: read, changes: read,
    start: change, stop: slow, restart: slow, kill: change, pause: quick, unpause: quick,
    remove: removal,
    commit: slow, export: quick, getArchive: quick, putArchive: { ...slow, optsAt: 1 }, logs: quick,
    exec: { ...quick, wraps: "exec" },
  },
  network: { inspect: read, remove: removal, connect: change, disconnect: { ...change, idempotent: true } },
  image: { inspect: read, history: read, remove: removal, tag: quick },
  exec: { start: quick, inspect: read, resize: quick },
};

const GETTERS: Record<string, "container" | "network" | "image" | "exec"> = {
  getContainer: "container",
  getNetwork: "network",
  getImage: "image",
  getExec: "exec",
};

export interface GuardOptions {
  /** The engine's endpoint, named in every error (default: the default engine's). */
  endpoint?: string;
  /** Per-budget deadline overrides in ms (tests); default from core/timeouts.ts. */
  timeouts?: Partial<Record<Budget, number>>;
  retry?: RetryPolicy;
  /** Told when a call is retried. */
  onRetry?: (what: string, err: unknown, attempt: number) => void;
}

/**
 * The same dockerode API with a deadline on every call (LabError kind "timeout" when it
 * passes, the request aborted), connection-level failures turned into classified LabErrors,
 * and idempotent calls retried. HTTP errors (404, 409...) pass through unchanged: callers
 * read their statusCode.
 */
export function guardEngine(d: Docker, opts: GuardOptions = {}): Docker {
  return wrap(d, "engine", "engine", opts);
}

function wrap<T extends object>(target: T, table: keyof typeof TABLES, label: string, opts: GuardOptions): T {
  const specs = TABLES[table];
  return new Proxy(target, {
    get(obj, prop) {
      if (prop === ENDPOINT) return opts.endpoint ?? defaultEngineUrl();
      const value = Reflect.get(obj, prop, obj) as unknown;
      if (typeof value !== "function" || typeof prop !== "string") return value;
      const fn = value as (...a: unknown[]) => unknown;
      const kind = GETTERS[prop];
      if (kind) return (...a: unknown[]) => wrap(fn.apply(obj, a) as object, kind, `${kind} ${String(a[0]).slice(0, 24)}`, opts);
      const spec = specs[prop];
      if (!spec) return fn.bind(obj);
      return (...args: unknown[]) => {
        // Callback style is left alone (dockerode's streaming helpers use it).
        if (typeof args[args.length - 1] === "function") return fn.apply(obj, args);
        return guardedCall(`${label}: ${prop}`, spec, opts, async (signal) => {
          const a = [...args];
          const at = spec.optsAt ?? 0;
          while (a.length < at) a.push(undefined);
          // A fresh options object per try: the engine client deletes the signal from it.
          a[at] = { ...((a[at] as object | undefined) ?? {}), abortSignal: signal };
          const result = await (fn.apply(obj, a) as Promise<unknown>);
          return spec.wraps && result && typeof result === "object" ? wrap(result, spec.wraps, `${spec.wraps} ${idOf(result)}`, opts) : result;
        });
      };
    },
  });
}

function idOf(o: object): string {
  return String((o as { id?: unknown }).id ?? "").slice(0, 12);
}

async function guardedCall<T>(what: string, spec: CallSpec, opts: GuardOptions, invoke: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const ms = opts.timeouts?.[spec.budget] ?? timeoutMs(spec.budget);
  const policy = spec.idempotent ? (opts.retry ?? ENGINE_RETRY) : NO_RETRY;
  return retry(
    async (attempt) => {
      const ac = new AbortController();
      let timer: NodeJS.Timeout | undefined;
      const deadline = new Promise<never>((_, reject) => {
        timer = setTimeout(() => {
          ac.abort();
          reject(
            new LabError(
              "timeout",
              `the Docker engine ${opts.endpoint ?? defaultEngineUrl()} did not answer ${what} within ${formatMs(ms)}${attempt > 1 ? ` (try ${attempt})` : ""}`,
              REMEDIES.timeout!,
            ),
          );
        }, ms);
      });
      try {
        return await Promise.race([invoke(ac.signal), deadline]);
      } catch (e) {
        if (spec.goneOk && attempt > 1 && (e as { statusCode?: number }).statusCode === 404) return undefined as T;
        throw engineError(e, what, opts.endpoint ?? defaultEngineUrl());
      } finally {
        clearTimeout(timer);
      }
    },
    policy,
    { onRetry: (e, attempt) => opts.onRetry?.(what, e, attempt) },
  );
}

/** Connection-level failures become classified LabErrors; the engine's own HTTP answers pass through. */
function engineError(e: unknown, what: string, where: string): unknown {
  if (e instanceof LabError || (e as { statusCode?: number }).statusCode !== undefined) return e;
  const kind = classifyError(e);
  if (!kind) return e;
  return new LabError(kind, `Docker engine (${where}), ${what}: ${(e as Error).message}`, REMEDIES[kind] ?? "retry; look at the engine's log if it persists", {}, { cause: e });
}

export async function engineAnswers(d: Docker = docker(), timeoutMs = 3000): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      d.ping(),
      new Promise((_, reject) => (timer = setTimeout(() => reject(new Error("timeout")), timeoutMs))),
    ]);
    return true;
  } catch {
    return false;
  } finally {
    clearTimeout(timer);
  }
}

export async function requireEngine(d: Docker = docker()): Promise<Docker> {
  if (await engineAnswers(d)) return d;
  const where = endpointOf(d);
  throw new LabError(
    "engine-unreachable",
    "no Docker engine answers on " + where,
    where === defaultEngineUrl()
      ? "run `npx patchlab doctor --fix` (as root on Debian it installs docker.io and starts dockerd), or start your engine"
      : `start the engine at ${where}, or point the site at the right one (its \`sites:\` entry in the lab file, or PATCHLAB_ENGINE_<SITE>)`,
  );
}

/** Labels every patchlab object carries, so the reaper can find what a run left behind. */
export const Labels = {
  managed: "patchlab.managed",
  lab: "patchlab.lab",
  machine: "patchlab.machine",
  run: "patchlab.run",
  owner: "patchlab.owner",
  roles: "patchlab.roles",
  kind: "patchlab.kind",
  snapshotLabel: "patchlab.snapshot",
  createOptions: "patchlab.create-options",
  recipeHash: "patchlab.recipe-hash",
} as const;
