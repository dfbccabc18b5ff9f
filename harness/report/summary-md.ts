// reports/<run>/summary.md: the decision as a pull-request comment or CI job summary.
// Verdict first, one row per patch, then what blocks and what is undecided, then links.
import type { Decision, PatchDecision, Reason } from "../gate/schema.ts";
import { firstLine, headline } from "../gate/summary.ts";

const ICON: Record<string, string> = { approved: "✅", rejected: "❌", "needs-review": "⚠️", "not-applicable": "➖", "bad-input": "⛔" };
const MAX_ROWS = 20;

const cell = (s: string) => s.replace(/\|/g, "\\|").replace(/\n/g, " ");

export interface SummaryLinks {
  /** Relative or absolute link to the Allure report's index.html. */
  report?: string;
  gateJson?: string;
  /** The CI job's page, when the CI says where it is. */
  ciJob?: string;
}

export function summaryMarkdown(d: Decision, links: SummaryLinks = {}): string {
  const out: string[] = [];
  const title = d.run ? `patchlab: batch \`${d.run.batch}\` on lab \`${d.run.lab}\`` : "patchlab";
  out.push(`## ${ICON[d.verdict] ?? ""} ${title}: **${d.verdict}** (exit ${d.exitCode})`, "");
  if (d.error) out.push(`> **The run could not complete** (${d.error.kind}): ${cell(d.error.message)}  `, `> remedy: ${cell(d.error.remedy)}`, "");
  if (d.problems?.length) {
    out.push("**Bad input — nothing was changed.** Fix these and run again:", "");
    for (const p of d.problems) out.push(`- ${p.file ? `\`${p.file}${p.line ? `:${p.line}` : ""}\`${p.field ? ` field \`${p.field}\`` : ""}: ` : ""}${cell(p.message)} — remedy: ${cell(p.remedy)}`);
    out.push("");
  }
  if (d.patches.length) {
    out.push("| verdict | patch | result |", "|---|---|---|");
    for (const p of d.patches) out.push(`| ${ICON[p.verdict]} ${p.verdict} | \`${p.patch}\`${p.title ? ` ${cell(p.title)}` : ""} | ${cell(headline(p))} |`);
    out.push("");
  }
  for (const p of d.patches.filter((x) => x.reasons.some((r) => r.effect !== "none"))) out.push(...details(p), "");
  if (d.approvedSet.length) {
    out.push(`<details><summary>Approved set: ${d.approvedSet.length} package(s), exactly as tested</summary>`, "", "| package | version | sha256 |", "|---|---|---|");
    for (const i of d.approvedSet) out.push(`| ${i.package} | ${i.version} | ${i.sha256 ? `\`${i.sha256.slice(0, 16)}…\`` : ""} |`);
    out.push("", "</details>", "");
  }
  const l = [links.report ? `[Allure report](${links.report})` : "", links.gateJson ? `[gate.json](${links.gateJson})` : "", links.ciJob ? `[CI job](${links.ciJob})` : ""].filter(Boolean);
  if (l.length) out.push(l.join(" · "), "");
  return out.join("\n");
}

function details(p: PatchDecision): string[] {
  const rows = p.reasons.filter((r) => r.effect !== "none");
  const lines = [`### ${ICON[p.verdict]} \`${p.patch}\`: ${p.verdict}`, "", "| outcome | where | check | why |", "|---|---|---|---|"];
  for (const r of rows.slice(0, MAX_ROWS)) lines.push(`| ${r.outcome} | ${r.machine}/${r.phase} | ${cell(r.check)} | ${cell(why(r))} |`);
  if (rows.length > MAX_ROWS) lines.push(`| … | | ${rows.length - MAX_ROWS} more in gate.json | |`);
  return lines;
}

function why(r: Reason): string {
  const msg = r.message ? firstLine(r.message) : "";
  const expired = r.expiredWaivers?.length ? ` (waiver expired ${r.expiredWaivers.map((w) => w.expires).join(", ")}: not applied)` : "";
  return `${msg}${expired}`;
}

/** The CI job's URL from the usual CI variables (GitHub Actions, GitLab CI). */
export function ciJobUrl(env: NodeJS.ProcessEnv = process.env): string | undefined {
  if (env.GITHUB_SERVER_URL && env.GITHUB_REPOSITORY && env.GITHUB_RUN_ID) return `${env.GITHUB_SERVER_URL}/${env.GITHUB_REPOSITORY}/actions/runs/${env.GITHUB_RUN_ID}`;
  return env.CI_JOB_URL ?? undefined;
}
