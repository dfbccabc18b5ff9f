// Ctrl-C or SIGTERM: from then on the run's own work must not touch the lab any more, because
// the signal handler is putting it back (restoring machines from their pre-run snapshots). A
// pipeline still in flight would otherwise race it: run commands on a just-restored machine, or
// remove it while recreating it again. Lab-changing calls check this first and give up.
import { LabError } from "./errors.ts";

let requested = false;

export function requestInterrupt(): void {
  requested = true;
}

export function interrupted(): boolean {
  return requested;
}

/** Throws when the process is being interrupted: `what` names the call that was refused. */
export function refuseIfInterrupted(what: string, machine?: string): void {
  if (requested) throw new LabError("interrupted", `${what} not started: patchlab is stopping (interrupted); the lab is being put back`, "run the batch again", machine ? { machine } : {});
}
