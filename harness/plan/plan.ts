// Severity x applicability -> required test phases, per the policy. Pure: the inventories
// (what each machine has) come in, a Plan goes out.
import fs from "node:fs";
import path from "node:path";
import { isLabName } from "../config/config-root.ts";
import type { LoadedBatch } from "../config/loader.ts";
import { parseYamlFile } from "../config/parse-yaml.ts";
import type { Lab, Patch, Severity } from "../config/schemas.ts";
import { ConfigError } from "../core/errors.ts";
import { resolveConfigRoot } from "../config/config-root.ts";
import { evaluateRules, rulesOf } from "../inventory/detect.ts";
import type { MachineInventory } from "../inventory/inventory.ts";
import { INFRASTRUCTURE_ROLES } from "../inventory/lab-inventory.ts";
import { Plan, Policy, type PlanPatch } from "./schema.ts";

export { Plan, PlanPatch, Policy, Phase, PolicyRule } from "./schema.ts";

export interface LoadedPolicy {
  policy: Policy;
  file: string;
}

export async function loadPolicy(ref: string): Promise<LoadedPolicy> {
  const file = isLabName(ref) ? path.join(resolveConfigRoot(), "policies", `${ref}.yaml`) : path.resolve(ref);
  const dir = path.join(resolveConfigRoot(), "policies");
  const known = fs.existsSync(dir) ? fs.readdirSync(dir).filter((f) => f.endsWith(".yaml")).map((f) => f.slice(0, -5)) : [];
  const parsed = await parseYamlFile(file, Policy, { what: "policy", notFoundRemedy: `use one of: ${known.join(", ") || "(none)"} (lab-config/policies/<name>.yaml), or give a path` });
  return { policy: parsed.value, file: parsed.file };
}

/** Read a plan.json, validated. */
export function loadPlan(file: string): Plan {
  let data: unknown;
  try {
    data = JSON.parse(fs.readFileSync(file, "utf8"));
  } catch (e) {
    throw new ConfigError(`plan ${file} is not readable JSON: ${(e as Error).message}`, "write it with `patchlab plan <batch>`", { file });
  }
  const r = Plan.safeParse(data);
  if (!r.success) {
    const i = r.error.issues[0]!;
    throw new ConfigError(`plan ${file}: ${i.path.join(".")}: ${i.message}`, "write it with `patchlab plan <batch>` (do not edit by hand)", { file, field: i.path.join(".") });
  }
  return r.data;
}

export interface SeverityChoice {
  severity: Severity;
  from: string;
}

/** Severity: a command-line override, then the policy's overrides, then (archive updates) the changelog urgency, then the manifest. */
export function severityOf(patch: Patch, policy: Policy, overrides: Record<string, Severity> = {}): SeverityChoice {
  if (overrides[patch.id]) return { severity: overrides[patch.id]!, from: "command-line override" };
  if (policy.overrides[patch.id]) return { severity: policy.overrides[patch.id]!, from: `policy ${policy.name} override for ${patch.id}` };
  if (patch.kind === "apt") {
    const src = policy.overrides[patch.apt.source];
    if (src) return { severity: src, from: `policy ${policy.name} override for source ${patch.apt.source}` };
    if (patch.apt.urgency) return { severity: policy.urgency[patch.apt.urgency], from: `changelog urgency ${patch.apt.urgency}` };
  }
  return { severity: patch.severity, from: "manifest" };
}

export interface PlanInput {
  batch: LoadedBatch;
  policy: LoadedPolicy;
  /** Each machine's inventory (live or the last stored one). */
  inventories: MachineInventory[];
  overrides?: Record<string, Severity>;
  /** deb patches: their package identity, for detection (optional). */
  now?: Date;
}

/** Which machines a patch targets and whether it applies at all. */
export function applicabilityOf(patch: Patch, lab: Lab, inventories: MachineInventory[]): { machines: string[]; why: string } {
  const eligible = lab.machines.filter((m) => !m.roles.every((r) => INFRASTRUCTURE_ROLES.includes(r)));
  const roleOk = (roles: string[]) => !patch.appliesTo || patch.appliesTo.roles.some((r) => roles.includes(r as never));
  if (patch.kind !== "apt") {
    const ms = eligible.filter((m) => roleOk(m.roles)).map((m) => m.name);
    return { machines: ms, why: ms.length ? `machines with role ${patch.appliesTo.roles.join("/")}` : `no machine has role ${patch.appliesTo.roles.join("/")}` };
  }
  const rules = rulesOf(patch);
  const status = eligible
    .filter((m) => roleOk(m.roles))
    .map((m) => {
      const inv = inventories.find((i) => i.machine === m.name);
      return { m: m.name, r: inv ? evaluateRules(rules, inv) : undefined };
    });
  const unknown = status.filter((s) => !s.r).map((s) => s.m);
  if (unknown.length) {
    throw new ConfigError(`no inventory of machine(s) ${unknown.join(", ")} of lab ${lab.name}`, `scan the lab first: \`patchlab scan ${lab.name}\``);
  }
  const missing = status.filter((s) => s.r!.status === "missing").map((s) => s.m);
  const installed = status.filter((s) => s.r!.status === "installed").map((s) => s.m);
  if (missing.length) return { machines: missing, why: `missing on ${missing.join(", ")}${installed.length ? ` (already installed on ${installed.join(", ")})` : ""}` };
  if (installed.length) return { machines: [], why: `already installed on every machine that has the package (${installed.join(", ")})` };
  return { machines: [], why: `no lab machine has any of its packages (${[...new Set(patch.apt.packages.map((p) => p.name))].slice(0, 6).join(", ")})` };
}

export function planBatch(input: PlanInput): Plan {
  const { batch, policy } = input;
  const lab = batch.lab.lab;
  const patches: PlanPatch[] = batch.patches.map(({ patch }) => {
    const sev = severityOf(patch, policy.policy, input.overrides);
    const rule = policy.policy.rules[sev.severity];
    const app = applicabilityOf(patch, lab, input.inventories);
    if (app.machines.length === 0) {
      return { patch: patch.id, severity: sev.severity, applicability: "not-applicable", machines: [], phases: [], depth: rule.depth, applications: false, reason: `${sev.severity} (${sev.from}); not applicable: ${app.why}` };
    }
    return {
      patch: patch.id,
      severity: sev.severity,
      applicability: "applicable",
      machines: app.machines,
      phases: [...rule.phases],
      depth: rule.depth,
      applications: rule.applications,
      reason: `${sev.severity} (${sev.from}); ${app.why}; policy ${policy.policy.name}: ${rule.phases.join(" -> ")}, ${rule.depth} suites${rule.applications ? " + application checks" : ""}`,
    };
  });
  return Plan.parse({ schemaVersion: 1, batch: batch.batch.name, lab: lab.name, policy: policy.policy.name, createdAt: (input.now ?? new Date()).toISOString(), patches });
}
