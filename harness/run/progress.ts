// Live progress of a run, per machine: the step it is on, how long it has taken, and how it
// ended. On a terminal a listr2 task list (one line per machine, updated in place); otherwise
// plain timestamped lines for CI logs; nothing at all with --quiet (PATCHLAB_QUIET=1).
import { Listr } from "listr2";
import { say } from "../core/log.ts";

export interface MachineProgress {
  /** The step the machine is on now ("post-install P1: suite roles/web"). */
  step(text: string): void;
}

export interface ProgressOptions {
  concurrency: number;
  /** Default: live when stderr is a terminal and the run is not quiet. */
  live?: boolean;
}

const quiet = () => process.env.PATCHLAB_QUIET === "1";

/**
 * Runs `work` for every machine, at most `concurrency` at once, showing each one's progress.
 * `work` never throws (the pipeline records its own failures); an exception still ends that
 * machine's line as failed and is rethrown once every machine is done.
 */
export async function withProgress<M extends { name: string }>(machines: M[], opts: ProgressOptions, work: (m: M, p: MachineProgress) => Promise<void>): Promise<void> {
  const live = opts.live ?? (!!process.stderr.isTTY && !quiet());
  if (!live) {
    const { mapLimit } = await import("../core/limit.ts");
    await mapLimit(machines, opts.concurrency, (m) => work(m, { step: (t) => say(`${m.name}: ${t}`) }));
    return;
  }
  const errors: unknown[] = [];
  const list = new Listr(
    machines.map((m) => ({
      title: `${m.name}: waiting`,
      task: async (_ctx: unknown, task: { title: string }) => {
        const t0 = Date.now();
        const secs = () => `${((Date.now() - t0) / 1000).toFixed(0)} s`;
        let current = "starting";
        const tick = setInterval(() => (task.title = `${m.name}: ${current} (${secs()})`), 1000);
        try {
          await work(m, { step: (t) => { current = t; task.title = `${m.name}: ${t} (${secs()})`; } });
          task.title = `${m.name}: done in ${secs()}`;
        } catch (e) {
          errors.push(e);
          throw e;
        } finally {
          clearInterval(tick);
        }
      },
    })),
    { concurrent: opts.concurrency, exitOnError: false, rendererOptions: { collapseErrors: false }, registerSignalListeners: false },
  );
  await list.run().catch(() => undefined);
  if (errors.length) throw errors[0];
}
