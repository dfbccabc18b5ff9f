// JSON Schema for editors (yaml-language-server) generated from the zod schemas, so
// the editor and the loader can never disagree about what a valid file is.
import path from "node:path";
import { z } from "zod";
import { Batch, Lab, Patch } from "./schemas.ts";
import { Decision, GateInput } from "../gate/schema.ts";
import { WaiverFile } from "../gate/waivers.ts";
import { JournalData } from "../run/journal.ts";
import { Plan, Policy } from "../plan/schema.ts";
import { repoRoot } from "../core/paths.ts";
import { Secrets } from "../core/secrets.ts";
import { WatchPolicy } from "../watch/policy.ts";

export const schemasDir = path.join(repoRoot, "lab-config", "schemas");

// gate.json is written by patchlab, not by people, but CI tooling reads it: export it too.
const exported = { lab: Lab, patch: Patch, batch: Batch, gate: Decision, "gate-input": GateInput, waivers: WaiverFile, run: JournalData, policy: Policy, plan: Plan, secrets: Secrets, "watch-policy": WatchPolicy } as const;

/** File name -> file text of every exported schema, exactly as committed. */
export function renderSchemas(): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, schema] of Object.entries(exported)) {
    // io "input": describe what a person writes, so defaulted fields are optional.
    const json = z.toJSONSchema(schema, { io: "input", target: "draft-2020-12" });
    out[`${name}.schema.json`] = `${JSON.stringify(json, null, 2)}\n`;
  }
  return out;
}
