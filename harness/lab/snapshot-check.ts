// When a machine cannot be snapshotted (an existing server over SSH with no hypervisor
// hooks), the run still verifies the patch, rolls it back by uninstall, and says plainly that
// the snapshot check was not possible: a typed outcome the gate shows as needs review for
// that check. Restoring such a "snapshot" is an error, so a caller that forgets to look
// cannot mistake it for a restore that happened.
import { LabError } from "../core/errors.ts";
import type { SnapshotRef } from "./types.ts";

export class SnapshotNotPossible extends LabError {
  readonly reason: string;
  constructor(machine: string, reason: string) {
    super(
      "restore",
      `${machine} cannot be restored: the snapshot check is not possible (${reason})`,
      "declare snapshot hooks (ssh.hooks.snapshot/restore) for the machine in the lab file, or accept rollback by uninstall (the check then needs review)",
      { machine },
    );
    this.reason = reason;
  }
}

/** A ref that stands for "no snapshot could be taken", with the reason. */
export function notPossibleRef(lab: string, machine: string, label: string, reason: string, runId?: string): SnapshotRef {
  return { lab, machine, label, ref: "", createdAt: new Date().toISOString(), notPossible: reason, ...(runId ? { runId } : {}) };
}

export type SnapshotCheck = { possible: true } | { possible: false; reason: string };

export function snapshotCheck(ref: SnapshotRef): SnapshotCheck {
  return ref.notPossible === undefined ? { possible: true } : { possible: false, reason: ref.notPossible };
}

/**
 * The restore step's record for a machine that could not be snapshotted: `broken` (the lab
 * could not run the check), so the gate makes it need review; never `passed`.
 */
export function notPossibleStep(machine: string, ref: SnapshotRef, patch?: string): { machine: string; patch?: string; step: "restore"; status: "broken"; message: string; start: number; stop: number } {
  const now = Date.now();
  return {
    machine,
    ...(patch ? { patch } : {}),
    step: "restore",
    status: "broken",
    message: `snapshot check not possible on ${machine}: ${ref.notPossible ?? "no snapshot"}; rolled back by uninstall only`,
    start: now,
    stop: now,
  };
}
