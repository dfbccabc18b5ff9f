// `patchlab run <batch>`: verify, gate, print the verdict; the exit code is the gate's.
import path from "node:path";
import type { Decision, Reason } from "../gate/gate.ts";
import { runBatch } from "../run/orchestrator.ts";
import type { Depth } from "../run/suite-context.ts";

const SHOWN_CHECKS = 4;

/** Chai appends "expected 500 to equal 200" to our own messages; people need the first part. */
function gist(message: string | undefined): string {
  const first = (message ?? "").split("\n")[0]!.replace(/: expected .*$/, "").trim();
  return first.length > 150 ? first.slice(0, 149) + "…" : first;
}

/** One line per failing check, its phases and machines folded together. */
function foldReasons(reasons: Reason[]): string[] {
  const byCheck = new Map<string, { r: Reason; where: string[] }>();
  for (const r of reasons.filter((x) => x.effect !== "none" || x.kind === "pre-existing")) {
    const key = `${r.kind}|${r.check}`;
    const e = byCheck.get(key) ?? { r, where: [] };
    e.where.push(`${r.machine}/${r.phase}`);
    byCheck.set(key, e);
  }
  const lines = [...byCheck.values()].map(({ r, where }) => {
    const msg = gist(r.message);
    return `      ${r.kind} (${r.effect === "none" ? "not blocking" : r.effect}): ${r.check} [${where.join(", ")}]${msg ? `\n          ${msg}` : ""}`;
  });
  return lines.length > SHOWN_CHECKS ? [...lines.slice(0, SHOWN_CHECKS), `      ... and ${lines.length - SHOWN_CHECKS} more (see gate.json)`] : lines;
}

export function formatDecision(d: Decision): string {
  const title = (id: string) => d.run?.patches.find((p) => p.id === id)?.title;
  const rows = d.patches.flatMap((p) => [
    `  ${p.verdict.toUpperCase().padEnd(13)} ${p.patch}${title(p.patch) ? ` ${title(p.patch)}` : ""}  (${p.counts.passed}/${p.counts.checks} checks passed)`,
    ...foldReasons(p.reasons),
  ]);
  return [...rows, "", d.summary.split("\n")[0]!].join("\n");
}

export async function runCommand(batch: string, o: { html: boolean; keep: boolean; timeoutS: number; depth?: Depth }): Promise<Decision> {
  const r = await runBatch(batch, { html: o.html, keep: o.keep, timeoutS: o.timeoutS, ...(o.depth ? { depth: o.depth } : {}) });
  console.log(formatDecision(r.decision));
  console.log(`gate.json: ${path.relative(process.cwd(), path.join(r.runDir, "gate.json"))}`);
  return r.decision;
}
