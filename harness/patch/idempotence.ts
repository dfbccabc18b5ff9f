// Idempotence: applying the same patch a second time must change nothing in the machine's
// state. Any change is shown as a readable diff and, by policy, rejects (a patch tool that
// re-applies on every run would keep changing production).
import { asPatchlabError } from "../core/errors.ts";
import { diffStates, machineState, renderDiff, summarize, type MachineState, type StateOptions } from "../lab/state.ts";
import type { Connection } from "../lab/types.ts";
import { text, type Attachment, type LifecycleCheck } from "./check-result.ts";
import type { PatchArtifact, PatchProvisioner } from "./types.ts";

/** reject: a change fails the check; warn: it passes with the diff shown; off: not run. */
export type IdempotencePolicy = "reject" | "warn" | "off";

export interface IdempotenceCheck extends LifecycleCheck {
  /** Changes the second application made (empty when idempotent). */
  changes: number;
  /** State after the second application. */
  after?: MachineState;
}

export async function idempotenceCheck(
  conn: Connection,
  p: PatchProvisioner,
  a: PatchArtifact,
  opts: { afterInstall?: MachineState; state?: StateOptions; policy?: IdempotencePolicy } = {},
): Promise<IdempotenceCheck> {
  const started = Date.now();
  const policy = opts.policy ?? "reject";
  const attachments: Attachment[] = [];
  const result = (status: LifecycleCheck["status"], message: string, changes = 0, after?: MachineState): IdempotenceCheck => ({ name: "idempotence", status, message, durationMs: Date.now() - started, attachments, changes, ...(after ? { after } : {}) });
  if (policy === "off") return result("skipped", "idempotence not checked (policy: off)");
  try {
    const first = opts.afterInstall ?? (await machineState(conn, opts.state));
    const again = await p.install(conn, a);
    attachments.push(text(`second install output (${a.patch.id} on ${conn.machine})`, again.output || "(the installer printed nothing)"));
    if (!again.ok) {
      return result(again.blame === "harness" ? "broken" : "failed", `applying ${a.patch.id} a second time failed: ${again.message}`);
    }
    const second = await machineState(conn, { volatile: first.volatile, ...opts.state, since: first });
    const diff = diffStates(first, second);
    if (diff.equal) return result("passed", `applying ${a.patch.id} again changed nothing`, 0, second);
    attachments.push(text(`idempotence diff (${a.patch.id} on ${conn.machine})`, renderDiff(diff, { before: "after the first install", after: "after the second install" })));
    const what = `applying ${a.patch.id} again changed the machine (${diff.changes.length} change(s)): ${summarize(diff, 5)}`;
    return policy === "reject" ? result("failed", `not idempotent: ${what}`, diff.changes.length, second) : result("passed", `warning (policy: warn): ${what}`, diff.changes.length, second);
  } catch (e) {
    return result("broken", `idempotence of ${a.patch.id} could not be checked: ${asPatchlabError(e).message}`);
  }
}
