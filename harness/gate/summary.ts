// The gate's decision in words, for the person reading CI output:
// "Of 14 required results, 1 failed: web/post-install: web serves its home page over HTTP (status 500)".
import type { PatchDecision, Reason } from "./schema.ts";
import type { Outcome, RunVerdict } from "./vocabulary.ts";

const MAX_MESSAGE = 140;
const MAX_LISTED = 3;

export function summarize(verdict: RunVerdict, exitCode: number, patches: PatchDecision[]): string {
  if (patches.length === 0) return `Verdict: ${verdict} (exit ${exitCode}). No patch was decided: nothing was verified.`;
  const tally = (["rejected", "needs-review", "approved", "not-applicable"] as const)
    .map((v) => [v, patches.filter((p) => p.verdict === v).length] as const)
    .filter(([, n]) => n > 0)
    .map(([v, n]) => `${n} ${v}`)
    .join(", ");
  return [`Verdict: ${verdict} (exit ${exitCode}). Patches: ${tally}.`, ...patches.map(patchText)].join("\n");
}

/** Sections in the order a reviewer needs them: what blocks, what is undecided, what is only shown. */
const SECTIONS: [string, Outcome][] = [
  ["failed (blocks)", "failed"],
  ["lab could not run it (broken)", "broken"],
  ["missing (not satisfied)", "missing"],
  ["waived", "waived"],
  ["flaky (failed, then passed on the retry)", "flaky"],
  ["pre-existing failures (not blocking)", "pre-existing"],
];

function patchText(p: PatchDecision): string {
  const lines = [`[${p.verdict}] ${p.patch}${p.title ? ` (${p.title})` : ""}: ${headline(p)}`];
  if (p.testedWith.length) lines.push(`  tested together with: ${p.testedWith.join(", ")}`);
  for (const [title, outcome] of SECTIONS) {
    const rs = p.reasons.filter((r) => r.outcome === outcome);
    if (rs.length) lines.push(`  ${title}:`, ...rs.map((r) => `    - ${line(r)}`));
  }
  for (const n of p.notes) lines.push(`  note: ${n}`);
  return lines.join("\n");
}

export function headline(p: PatchDecision): string {
  if (p.verdict === "not-applicable") return `not applicable: ${p.notes[0] ?? "no lab machine has what it updates"}.`;
  const c = p.counts;
  const head = `Of ${c.checks} results for ${c.required} required items, `;
  if (c.failed > 0) {
    // The first few name what broke; the rest are in gate.json and the Allure report.
    const failed = p.reasons.filter((r) => r.outcome === "failed");
    const more = failed.length > MAX_LISTED ? `; and ${failed.length - MAX_LISTED} more` : "";
    return head + `${c.failed} failed: ${failed.slice(0, MAX_LISTED).map(short).join("; ")}${more}`;
  }
  const parts = [`${c.passed} passed`];
  if (c.broken) parts.push(`${c.broken} broken`);
  if (c.missing) parts.push(`${c.missing} missing`);
  if (c.waived) parts.push(`${c.waived} waived`);
  if (c.flaky) parts.push(`${c.flaky} flaky`);
  if (c.preExisting) parts.push(`${c.preExisting} pre-existing failures`);
  if (c.skipped) parts.push(`${c.skipped} skipped`);
  return head + parts.join(", ") + ".";
}

function short(r: Reason): string {
  return `${r.machine}/${r.phase}: ${r.check}${r.message ? ` (${firstLine(r.message)})` : ""}`;
}

export function line(r: Reason): string {
  const base = r.baseline && r.outcome !== "pre-existing" ? `, baseline ${r.baseline}` : "";
  const waiver = r.waiver ? ` waived by ${r.waiver.approver} until ${r.waiver.expires}: ${r.waiver.reason}` : "";
  const expired = r.expiredWaivers?.length ? ` (waiver${r.expiredWaivers.length > 1 ? "s" : ""} expired ${r.expiredWaivers.map((w) => `${w.id ?? ""} on ${w.expires}`.trim()).join(", ")}: not applied)` : "";
  return `${r.machine}/${r.phase}${r.suite && r.kind === "suite" && r.check !== `${r.suite} suite` ? ` ${r.suite}` : ""}: ${r.check} [${r.rule}${base}]${r.message ? ` (${firstLine(r.message)})` : ""}${waiver}${expired}`;
}

export function firstLine(s: string): string {
  const l = s.split("\n")[0]!.trim();
  return l.length > MAX_MESSAGE ? l.slice(0, MAX_MESSAGE - 1) + "…" : l;
}
