// `patchlab run <batch>`: verify, gate, print the verdict; the exit code is the gate's.
import path from "node:path";
import type { Decision, Reason } from "../gate/gate.ts";
import { runBatch, type RunOptions } from "../run/orchestrator.ts";

const SHOWN_CHECKS = 4;

/** Chai appends "expected 500 to equal 200" to our own messages; people need the first part. */
function gist(message: string | undefined): string {
  const first = (message ?? "").split("\n")[0]!.replace(/: expected .*$/, "").trim();
  return first.length > 150 ? first.slice(0, 149) + "…" : first;
}

/** One line per failing check, its phases and machines folded together. */
function foldReasons(reasons: Reason[]): string[] {
  const byCheck = new Map<string, { r: Reason; where: string[] }>();
  for (const r of reasons) {
    const key = `${r.outcome}|${r.check}`;
    const e = byCheck.get(key) ?? { r, where: [] };
    e.where.push(`${r.machine}/${r.phase}`);
    byCheck.set(key, e);
  }
  const lines = [...byCheck.values()].map(({ r, where }) => {
    const msg = gist(r.message);
    const waiver = r.waiver ? `\n          waived by ${r.waiver.approver} until ${r.waiver.expires}: ${r.waiver.reason}` : "";
    const expired = r.expiredWaivers?.length ? `\n          waiver expired ${r.expiredWaivers.map((w) => w.expires).join(", ")}: not applied` : "";
    return `      ${r.outcome} (${r.effect === "none" ? "not blocking" : r.effect}): ${r.check} [${where.join(", ")}]${msg ? `\n          ${msg}` : ""}${waiver}${expired}`;
  });
  return lines.length > SHOWN_CHECKS ? [...lines.slice(0, SHOWN_CHECKS), `      ... and ${lines.length - SHOWN_CHECKS} more (see gate.json)`] : lines;
}

export function formatDecision(d: Decision): string {
  const title = (id: string) => d.run?.patches.find((p) => p.id === id)?.title;
  const rows = d.patches.flatMap((p) => [
    `  ${p.verdict.toUpperCase().padEnd(14)} ${p.patch}${title(p.patch) ? ` ${title(p.patch)}` : ""}  (${p.counts.passed}/${p.counts.checks} results passed)`,
    ...foldReasons(p.reasons),
  ]);
  const head = [
    ...(d.error ? [`  the run could not complete (${d.error.kind}): ${d.error.message}`, `  remedy: ${d.error.remedy}`] : []),
    // A problem's message already says where (file:line:col: field).
    ...(d.problems ?? []).map((p) => `  bad input: ${p.message}\n      remedy: ${p.remedy}`),
  ];
  return [...head, ...rows, "", d.summary.split("\n")[0]!].join("\n");
}

export async function runCommand(batch: string | undefined, o: Omit<RunOptions, "runId"> & { json?: boolean }): Promise<Decision> {
  const { json, ...run } = o;
  const r = await runBatch(batch, run);
  if (json) {
    process.stdout.write(JSON.stringify(r.decision, null, 2) + "\n");
    return r.decision;
  }
  console.log(formatDecision(r.decision));
  const rel = (f: string) => path.relative(process.cwd(), path.join(r.runDir, f));
  console.log(`gate.json: ${rel("gate.json")}  summary: ${rel("summary.md")}`);
  return r.decision;
}
