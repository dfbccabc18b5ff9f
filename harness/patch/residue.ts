// What an uninstall leaves behind, and what a restore does not put back. Residue: the state
// after uninstall against the state before install (packages and versions, users, groups,
// files under the watched trees, services, sockets); any difference rejects, shown as a
// readable diff. Rollback: the state after restoring the snapshot against the state before the
// run; a difference means the lab could not put the machine back (a lab error, never blamed on
// the patch), also shown as a diff.
import { asPatchlabError } from "../core/errors.ts";
import { diffStates, machineState, renderDiff, summarize, type MachineState, type StateOptions } from "../lab/state.ts";
import type { Connection } from "../lab/types.ts";
import { text, type LifecycleCheck } from "./check-result.ts";

export interface DiffCheck extends LifecycleCheck {
  changes: number;
}

/** Pure: residue of an uninstall. `patch` and `machine` name the evidence. */
export function residueCheck(beforeInstall: MachineState, afterUninstall: MachineState, who: { patch: string; machine: string }): DiffCheck {
  const diff = diffStates(beforeInstall, afterUninstall);
  if (diff.equal) return { name: "residue", status: "passed", message: `no residue: after uninstalling ${who.patch} the state equals the one before its install`, durationMs: 0, attachments: [], changes: 0 };
  return {
    name: "residue",
    status: "failed",
    message: `residue: uninstalling ${who.patch} left ${diff.changes.length} difference(s) from the state before install: ${summarize(diff, 5)}`,
    durationMs: 0,
    attachments: [text(`residue of ${who.patch} on ${who.machine}`, renderDiff(diff, { before: "before install", after: "after uninstall" }))],
    changes: diff.changes.length,
  };
}

/** Take the state after uninstall and compare (a state that cannot be taken is broken, not residue). */
export async function residueCheckOn(conn: Connection, beforeInstall: MachineState, patch: string, state?: StateOptions): Promise<DiffCheck & { after?: MachineState }> {
  const started = Date.now();
  try {
    const after = await machineState(conn, { volatile: beforeInstall.volatile, ...state, since: beforeInstall });
    return { ...residueCheck(beforeInstall, after, { patch, machine: conn.machine }), durationMs: Date.now() - started, after };
  } catch (e) {
    return { name: "residue", status: "broken", message: `residue of ${patch} could not be checked: ${asPatchlabError(e).message}`, durationMs: Date.now() - started, attachments: [], changes: 0 };
  }
}

/** Pure: the restore of the pre-run snapshot put the machine back exactly. */
export function rollbackCheck(beforeRun: MachineState, afterRestore: MachineState, who: { patch?: string; machine: string }): DiffCheck {
  const diff = diffStates(beforeRun, afterRestore);
  const after = who.patch ? ` after ${who.patch}` : "";
  if (diff.equal) return { name: "rollback", status: "passed", message: `restored${after}: the state equals the one before the run`, durationMs: 0, attachments: [], changes: 0 };
  return {
    name: "rollback",
    status: "broken",
    message: `restore${after} not exact (${diff.changes.length} difference(s)): ${summarize(diff, 5)}`,
    durationMs: 0,
    attachments: [text(`rollback diff of ${who.machine}${after}`, renderDiff(diff, { before: "before the run", after: "after the restore" }))],
    changes: diff.changes.length,
  };
}
