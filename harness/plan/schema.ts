// Plan and policy formats: the policy (lab-config/policies/<name>.yaml) says which test phases,
// suite depth and application checks each severity needs; the plan (plan.json) is what
// `plan` derived for a batch and what `run` follows.
import { z } from "zod";
import { Severity } from "../config/schemas.ts";

export const Phase = z.enum(["baseline", "install", "post-install", "uninstall", "post-uninstall"]);
export type PlanPhase = z.infer<typeof Phase>;
export const Depth = z.enum(["limited", "full"]);

export const PolicyRule = z
  .object({
    phases: z.array(Phase).min(1).describe("test phases the patch must go through, in order"),
    depth: Depth.describe("depth of the role suites: limited (smoke checks) or full"),
    applications: z.boolean().describe("whether the line-of-business application suites are required"),
  })
  .strict();

export const Policy = z
  .object({
    name: z.string().regex(/^[a-z][a-z0-9-]{0,30}$/),
    description: z.string().optional(),
    urgency: z
      .object({
        low: Severity,
        medium: Severity,
        high: Severity,
        emergency: Severity,
        critical: Severity,
      })
      .strict()
      .describe("severity of an archive update from its changelog urgency"),
    overrides: z
      .record(z.string(), Severity)
      .default({})
      .describe("severity by patch id or source package, over the manifest and the urgency"),
    rules: z.object({ critical: PolicyRule, important: PolicyRule, moderate: PolicyRule, low: PolicyRule }).strict().describe("what each severity requires"),
  })
  .strict()
  .superRefine((p, ctx) => {
    for (const [sev, r] of Object.entries(p.rules)) {
      const order = Phase.options;
      const idx = r.phases.map((x) => order.indexOf(x));
      if (idx.some((v, i) => i > 0 && v <= idx[i - 1]!)) ctx.addIssue({ code: "custom", path: ["rules", sev, "phases"], message: `must list phases once each, in lifecycle order (${order.join(", ")})` });
      if (!r.phases.includes("install")) ctx.addIssue({ code: "custom", path: ["rules", sev, "phases"], message: "must include install (a patch is verified by installing it)" });
      if (r.phases.includes("post-uninstall") && !r.phases.includes("uninstall")) ctx.addIssue({ code: "custom", path: ["rules", sev, "phases"], message: "post-uninstall needs uninstall" });
    }
  })
  .meta({ title: "patchlab test policy", description: "Which test phases each patch severity requires (lab-config/policies/<name>.yaml)." });
export type Policy = z.infer<typeof Policy>;

export const PlanPatch = z
  .object({
    patch: z.string(),
    severity: Severity,
    applicability: z.enum(["applicable", "not-applicable"]),
    machines: z.array(z.string()).describe("target machines (empty when not applicable)"),
    phases: z.array(Phase),
    depth: Depth,
    applications: z.boolean(),
    reason: z.string(),
  })
  .strict();
export type PlanPatch = z.infer<typeof PlanPatch>;

export const Plan = z
  .object({
    schemaVersion: z.literal(1),
    batch: z.string(),
    lab: z.string(),
    policy: z.string(),
    createdAt: z.string(),
    patches: z.array(PlanPatch),
  })
  .strict()
  .meta({ title: "patchlab plan", description: "The test plan `patchlab plan` derived for a batch (plan.json); `run` follows it." });
export type Plan = z.infer<typeof Plan>;
