// The observation window every watcher uses, so the baseline and each later phase are
// observed for the same length of time at the same sampling rate.
import type { WatchWindow } from "./types.ts";
import { sleepUntil } from "../core/sleep.ts";

/** Re-exported for the watchers (soak, follow) that wait between windows. */
export { sleepUntil };

export interface Sampled<T> {
  /** ms since the window started. */
  t: number;
  value: T;
}

export interface WindowResult<T> {
  startedAt: number;
  endedAt: number;
  samples: Sampled<T>[];
}

/** Tracks whether the window's `during` promise has settled. */
function settledFlag(w: WatchWindow): () => boolean {
  if (!w.during) return () => true;
  let settled = false;
  w.during.then(
    () => (settled = true),
    () => (settled = true),
  );
  return () => settled;
}

/**
 * Samples at 0, sampleMs, 2*sampleMs... until the window is over (ms elapsed and `during`
 * settled), with a last sample at the end. A sample slower than the period delays the next
 * one rather than overlapping it (bounded cost on a loaded machine). A failing sample
 * rejects: a watcher that cannot observe says so.
 */
export async function watchWindow<T>(w: WatchWindow, sample: (t: number) => Promise<T>): Promise<WindowResult<T>> {
  const settled = settledFlag(w);
  const startedAt = Date.now();
  const samples: Sampled<T>[] = [];
  const period = Math.max(1, w.sampleMs);
  for (let k = 1; ; k++) {
    const t = Date.now() - startedAt;
    samples.push({ t, value: await sample(t) });
    const over = Date.now() - startedAt >= w.ms && settled();
    if (over || w.signal?.aborted) break;
    const next = startedAt + k * period;
    const end = startedAt + w.ms;
    if (Date.now() < end) {
      // Next tick, but never past the window's end (the last sample lands on the end).
      await sleepUntil(Math.min(next, end), w.signal);
    } else {
      // Past the minimum length, waiting for the phase's work: same period, and a last
      // sample as soon as the work is done.
      await Promise.race([w.during!.catch(() => undefined), sleepUntil(next, w.signal)]);
    }
  }
  return { startedAt, endedAt: Date.now(), samples };
}

/** Waits out the window without sampling (watchers that read what accumulated). */
export async function waitWindow(w: WatchWindow): Promise<{ startedAt: number; endedAt: number }> {
  const startedAt = Date.now();
  await sleepUntil(startedAt + w.ms, w.signal);
  if (w.during && !w.signal?.aborted) {
    await Promise.race([
      w.during.catch(() => undefined),
      new Promise<void>((r) => w.signal?.addEventListener("abort", () => r(), { once: true })),
    ]);
  }
  return { startedAt, endedAt: Date.now() };
}
