// gate.json: the gate's decision for machines (CI, dashboards). Validated against the same
// zod schema that generates gate.schema.json, so the file always matches its published schema.
import fs from "node:fs";
import path from "node:path";
import { Decision } from "../gate/schema.ts";

export const GATE_JSON = "gate.json";

/** Writes `<dir>/gate.json` atomically (a reader never sees half a verdict); returns its path. */
export function writeGateJson(dir: string, decision: Decision): string {
  const parsed = Decision.parse(decision);
  fs.mkdirSync(dir, { recursive: true });
  const file = path.join(dir, GATE_JSON);
  const tmp = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, JSON.stringify(parsed, null, 2) + "\n");
  fs.renameSync(tmp, file);
  return file;
}

export function readGateJson(file: string): Decision {
  return Decision.parse(JSON.parse(fs.readFileSync(file, "utf8")));
}
