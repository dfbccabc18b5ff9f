// `patchlab run <batch>`: verify, gate, print the verdict; the exit code is the gate's.
import path from "node:path";
import type { Decision } from "../gate/gate.ts";
import { runBatch } from "../run/orchestrator.ts";

export function formatDecision(d: Decision): string {
  const rows = d.patches.map((p) => {
    const why = p.reasons
      .filter((r) => r.effect !== "none" || r.kind === "pre-existing")
      .slice(0, 6)
      .map((r) => `\n      - ${r.kind} (${r.effect}): ${r.phase} on ${r.machine}: ${r.check}${r.message ? ` — ${r.message.split("\n")[0]!.slice(0, 160)}` : ""}`)
      .join("");
    return `  ${p.verdict.toUpperCase().padEnd(13)} ${p.patch}  (${p.counts.passed}/${p.counts.checks} checks passed)${why}`;
  });
  return [...rows, "", d.summary, `gate: ${d.verdict} (exit ${d.exitCode})`].join("\n");
}

export async function runCommand(batch: string, o: { html: boolean; keep: boolean; timeoutS: number }): Promise<Decision> {
  const r = await runBatch(batch, { html: o.html, keep: o.keep, timeoutS: o.timeoutS });
  console.log(formatDecision(r.decision));
  console.log(`gate.json: ${path.relative(process.cwd(), path.join(r.runDir, "gate.json"))}`);
  return r.decision;
}
