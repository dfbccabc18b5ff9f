// The gate's decision in words, for the person reading CI output:
// "Of 14 required checks, 1 failed: web/post-install: web serves its home page over HTTP (status 500)".
import type { PatchDecision, Reason, Verdict } from "./schema.ts";

const MAX_MESSAGE = 140;
const MAX_LISTED = 3;

export function summarize(verdict: Verdict, exitCode: number, patches: PatchDecision[]): string {
  if (patches.length === 0) return `Verdict: needs-review (exit ${exitCode}). No patch was decided: nothing was verified.`;
  const tally = (["rejected", "needs-review", "approved"] as const)
    .map((v) => [v, patches.filter((p) => p.verdict === v).length] as const)
    .filter(([, n]) => n > 0)
    .map(([v, n]) => `${n} ${v}`)
    .join(", ");
  return [`Verdict: ${verdict} (exit ${exitCode}). Patches: ${tally}.`, ...patches.map(patchText)].join("\n");
}

function patchText(p: PatchDecision): string {
  const of = (kinds: Reason["kind"][]) => p.reasons.filter((r) => kinds.includes(r.kind));
  const lines = [`[${p.verdict}] ${p.patch}: ${headline(p)}`];
  const section = (title: string, rs: Reason[]) => {
    if (rs.length) lines.push(`  ${title}:`, ...rs.map((r) => `    - ${line(r)}`));
  };
  section("patch steps failed", of(["install-failed", "uninstall-failed"]));
  // Failed checks are listed in the headline itself.
  section("lab could not run (broken, crashed)", of(["broken", "crashed"]));
  section("missing (not satisfied)", of(["missing"]));
  section("pre-existing failures (not blocking)", of(["pre-existing"]));
  return lines.join("\n");
}

function headline(p: PatchDecision): string {
  const c = p.counts;
  const head = `Of ${c.checks} required checks, `;
  if (c.failed > 0) {
    // The first few name what broke; the rest are in gate.json and the Allure report.
    const failed = p.reasons.filter((r) => r.kind === "regression" || r.kind === "failed-without-baseline");
    const more = failed.length > MAX_LISTED ? `; and ${failed.length - MAX_LISTED} more` : "";
    return head + `${c.failed} failed: ${failed.slice(0, MAX_LISTED).map(short).join("; ")}${more}`;
  }
  const parts = [`${c.passed} passed`];
  if (c.broken) parts.push(`${c.broken} broken`);
  if (c.missing) parts.push(`${c.missing} missing`);
  if (c.preExisting) parts.push(`${c.preExisting} pre-existing failures`);
  if (c.skipped) parts.push(`${c.skipped} skipped`);
  return head + parts.join(", ") + ".";
}

function short(r: Reason): string {
  return `${r.machine}/${r.phase}: ${r.check}${r.message ? ` (${firstLine(r.message)})` : ""}`;
}

function line(r: Reason): string {
  const base = r.baseline && r.kind !== "pre-existing" ? `, baseline ${r.baseline}` : "";
  return `${r.machine}/${r.phase}${r.suite ? ` ${r.suite}` : ""}: ${r.check} [${r.kind}${base}]${r.message ? ` (${firstLine(r.message)})` : ""}`;
}

function firstLine(s: string): string {
  const l = s.split("\n")[0]!.trim();
  return l.length > MAX_MESSAGE ? l.slice(0, MAX_MESSAGE - 1) + "…" : l;
}
