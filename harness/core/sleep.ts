// Waiting until a wall-clock time. A timer counts from the event loop's cached clock and may fire
// a few ms before Date.now() reaches its target (or the VM's wall clock is slewed): callers that
// compare Date.now() against the target afterwards (a watch window's length, a readiness grace)
// must never wake short of it.

/** Sleeps until `until` (epoch ms) by Date.now(), or less if the signal aborts. */
export async function sleepUntil(until: number, signal?: AbortSignal): Promise<void> {
  while (Date.now() < until && !signal?.aborted) await sleepOnce(until - Date.now(), signal);
}

function sleepOnce(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener("abort", done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener("abort", done, { once: true });
  });
}
