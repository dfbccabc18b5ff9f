// What each lifecycle check (install, idempotence, uninstall, residue, rollback, restart)
// hands the pipeline: a status in the gate's vocabulary, a message for people, and evidence
// as text attachments (installer output, state diffs) for the Allure result.

export type CheckStatus = "passed" | "failed" | "broken" | "skipped";

export interface Attachment {
  name: string;
  type: "text/plain";
  content: string;
}

export interface LifecycleCheck {
  /** Stable check name: "install", "idempotence", "uninstall", "residue", "rollback", "restart". */
  name: string;
  status: CheckStatus;
  message: string;
  durationMs: number;
  attachments: Attachment[];
}

export const text = (name: string, content: string): Attachment => ({ name, type: "text/plain", content });
