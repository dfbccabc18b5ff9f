import { expect } from "chai";
import { Decision, decide } from "../../../harness/gate/gate.ts";
import { renderSchemas } from "../../../harness/config/json-schemas.ts";

describe("gate.json schema", () => {
  it("exports a JSON Schema for gate.json from the zod Decision schema", () => {
    const s = JSON.parse(renderSchemas()["gate.schema.json"]!) as Record<string, unknown>;
    expect(s).to.have.property("$schema");
    expect(s).to.have.property("type", "object");
    const props = (s as { properties: Record<string, unknown> }).properties;
    expect(props).to.include.keys("verdict", "exitCode", "summary", "patches", "schemaVersion");
    expect((s as { additionalProperties?: unknown }).additionalProperties).to.equal(false);
  });

  it("every decision the gate makes validates against its own schema", () => {
    const d = decide({ today: "2026-11-27", patches: [{ patch: "p", required: [{ machine: "web", phase: "baseline", kind: "suite", name: "web" }], evidence: [] }] });
    expect(Decision.safeParse(d).success).to.equal(true);
    expect(JSON.parse(JSON.stringify(d))).to.deep.equal(d);
  });
});
