// Retry a call whose repetition is harmless (listing, inspecting, removing what may already be
// gone) when it failed for a reason a retry can cure: a dropped connection, a busy engine.
// Never a patch step: installing twice is not the same as installing once.
import { classifyError } from "./classify.ts";
import type { LabErrorKind } from "./errors.ts";

export interface RetryPolicy {
  /** Total tries, the first included. */
  attempts: number;
  /** Wait before the 2nd try; doubled (times `factor`) before each later one, up to maxDelayMs. */
  baseDelayMs: number;
  maxDelayMs: number;
  factor?: number;
  /** Whether this error is worth another try. */
  retryOn: (err: unknown) => boolean;
}

/** Lab trouble that passes: a retry may find the engine answering again. */
export const TRANSIENT_KINDS: ReadonlySet<LabErrorKind> = new Set<LabErrorKind>(["timeout", "connection-dropped", "engine-unreachable"]);

export const isTransient = (err: unknown): boolean => {
  const kind = classifyError(err);
  return kind !== undefined && TRANSIENT_KINDS.has(kind);
};

/** For idempotent engine calls: three tries within about two seconds (0.2 s, then 0.8 s apart). */
export const ENGINE_RETRY: RetryPolicy = { attempts: 3, baseDelayMs: 200, maxDelayMs: 2000, factor: 4, retryOn: isTransient };

export const NO_RETRY: RetryPolicy = { attempts: 1, baseDelayMs: 0, maxDelayMs: 0, retryOn: () => false };

export interface RetryHooks {
  /** Told before each wait, e.g. to log "engine call failed, retrying". */
  onRetry?: (err: unknown, attempt: number, delayMs: number) => void;
  sleep?: (ms: number) => Promise<void>;
}

export async function retry<T>(fn: (attempt: number) => Promise<T>, policy: RetryPolicy, hooks: RetryHooks = {}): Promise<T> {
  const sleep = hooks.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  let delay = policy.baseDelayMs;
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn(attempt);
    } catch (err) {
      if (attempt >= policy.attempts || !policy.retryOn(err)) throw err;
      const wait = Math.min(delay, policy.maxDelayMs);
      hooks.onRetry?.(err, attempt, wait);
      await sleep(wait);
      delay *= policy.factor ?? 2;
    }
  }
}
