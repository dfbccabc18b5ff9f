// `patchlab plan <batch>`: the test plan (plan.json) and the patch application plan (markdown).
import fs from "node:fs";
import path from "node:path";
import { loadBatch } from "../config/loader.ts";
import { Severity } from "../config/schemas.ts";
import { ConfigError } from "../core/errors.ts";
import { reportsRoot } from "../core/paths.ts";
import { knownInventories } from "../inventory/known.ts";
import { planMarkdown } from "../plan/markdown.ts";
import { loadPolicy, planBatch, type Plan } from "../plan/plan.ts";

export function parseOverrides(items: string[] = []): Record<string, Severity> {
  const out: Record<string, Severity> = {};
  for (const it of items) {
    const [id, sev] = it.split("=");
    const s = Severity.safeParse(sev);
    if (!id || !s.success) throw new ConfigError(`--severity "${it}" is not <patch id>=<severity>`, `write e.g. --severity DSA-1=critical (severities: ${Severity.options.join(", ")})`, { field: "--severity", value: it });
    out[id] = s.data;
  }
  return out;
}

export function formatPlan(plan: Plan): string {
  const w = Math.max(5, ...plan.patches.map((p) => p.patch.length));
  return [
    `${"PATCH".padEnd(w)}  ${"SEVERITY".padEnd(9)} ${"APPLIES".padEnd(8)} ${"MACHINES".padEnd(16)} ${"DEPTH".padEnd(7)} APPS PHASES`,
    ...plan.patches.map((p) => `${p.patch.padEnd(w)}  ${p.severity.padEnd(9)} ${(p.applicability === "applicable" ? "yes" : "no").padEnd(8)} ${(p.machines.join(",") || "-").padEnd(16)} ${(p.applicability === "applicable" ? p.depth : "-").padEnd(7)} ${(p.applications ? "yes" : "no").padEnd(4)} ${p.phases.join(",") || "-"}`),
  ].join("\n");
}

export async function planCommand(batchRef: string, o: { policy: string; severity?: string[]; output?: string; live?: boolean }): Promise<{ plan: Plan; text: string; planFile: string; markdownFile: string }> {
  const overrides = parseOverrides(o.severity);
  const batch = await loadBatch(batchRef);
  const unknown = Object.keys(overrides).filter((id) => !batch.patches.some((p) => p.patch.id === id));
  if (unknown.length) throw new ConfigError(`--severity names patch(es) not in the batch: ${unknown.join(", ")}`, `use ids from ${batch.file}: ${batch.patches.map((p) => p.patch.id).join(", ")}`, { field: "--severity" });
  const policy = await loadPolicy(o.policy);
  const { inventories, from } = await knownInventories(batch.lab.lab, { live: !!o.live });
  const plan = planBatch({ batch, policy, inventories, overrides });
  const dir = path.resolve(o.output ?? path.join(reportsRoot(), "plans", batch.batch.name));
  fs.mkdirSync(dir, { recursive: true });
  const planFile = path.join(dir, "plan.json");
  const markdownFile = path.join(dir, "patch-application-plan.md");
  fs.writeFileSync(planFile, JSON.stringify(plan, null, 2) + "\n");
  fs.writeFileSync(markdownFile, planMarkdown(plan, batch.lab.lab, batch.patches.map((p) => p.patch), inventories));
  const text = `${formatPlan(plan)}\n\ninventories from ${from}; policy ${policy.file}\nplan.json: ${path.relative(process.cwd(), planFile)}\nplan: ${path.relative(process.cwd(), markdownFile)}`;
  return { plan, text, planFile, markdownFile };
}
