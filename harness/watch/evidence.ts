// From watcher results to what the gate and people read: gate evidence (pure), and a
// plain-text summary for CI logs.
import type { z } from "zod";
import { GatePhase, type WatchEvidence } from "../gate/schema.ts";
import type { Finding } from "./types.ts";

/** What one watcher produced on one machine in one phase. */
export interface CheckResult {
  /** Watcher (Check) name: "logs", "counters", "latency", "soak". */
  name: string;
  machine: string;
  /** A gate phase ("baseline", "post-install", "soak"...), or "watch" for `patchlab watch`. */
  phase: string;
  findings: Finding[];
  /** Set when the watcher could not observe: its findings are then not to be trusted (none). */
  error?: string;
  /** One line on what was observed (sources, samples, overhead), for evidence and logs. */
  note?: string;
}

export type WatchEvidenceT = z.infer<typeof WatchEvidence>;

/** Pure: one watcher's result as gate evidence. A watcher that could not observe is broken, never passed. */
export function toWatchEvidence(r: CheckResult): WatchEvidenceT {
  const phase = GatePhase.parse(r.phase);
  const rejecting = r.findings.filter((f) => f.rejects).length;
  const message = r.error
    ? `could not observe: ${r.error}`
    : `${r.findings.length ? `${r.findings.length} finding(s)${rejecting ? `, ${rejecting} rejecting` : ""}` : "no finding"}${r.note ? `; ${r.note}` : ""}`;
  return {
    kind: "watch",
    machine: r.machine,
    phase,
    name: r.name,
    status: r.error ? "broken" : "passed",
    message,
    findings: r.error
      ? []
      : r.findings.map((f) => ({ title: f.title, severity: f.severity, rejects: f.rejects, ...(f.message ? { message: f.message } : {}) })),
  };
}

const tag = (f: Finding) => `[${f.severity}${f.rejects ? ", rejects" : ""}]`;

/** Plain text for CI logs: one block per machine and phase, one line per finding. */
export function summaryText(results: CheckResult[]): string {
  const out: string[] = [];
  const groups = new Map<string, CheckResult[]>();
  for (const r of results) {
    const k = `${r.machine} ${r.phase}`;
    groups.set(k, [...(groups.get(k) ?? []), r]);
  }
  for (const [k, rs] of groups) {
    const findings = rs.flatMap((r) => r.findings);
    const broken = rs.filter((r) => r.error);
    const rejecting = findings.filter((f) => f.rejects).length;
    const head = broken.length
      ? `could not observe with ${broken.map((r) => r.name).join(", ")}`
      : findings.length
        ? `${findings.length} finding(s)${rejecting ? `, ${rejecting} rejecting` : ""}`
        : "no finding";
    out.push(`watch ${k}: ${head} (${rs.map((r) => r.name).join(", ")})`);
    for (const r of broken) out.push(`  [broken] ${r.name}: ${r.error}`);
    for (const f of findings) out.push(`  ${tag(f)} ${f.watcher}: ${f.title}\n      ${f.message}`);
    for (const r of rs) if (r.note) out.push(`  ${r.name}: ${r.note}`);
  }
  return out.join("\n") + (out.length ? "\n" : "");
}
