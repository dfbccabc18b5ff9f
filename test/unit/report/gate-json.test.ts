import { expect } from "chai";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { decide } from "../../../harness/gate/gate.ts";
import { readGateJson, writeGateJson } from "../../../harness/report/gate-json.ts";

describe("report: gate.json", () => {
  let dir: string;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "patchlab-gate-json-"));
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it("writes the decision to <dir>/gate.json and reads it back identical", () => {
    const d = decide({ today: "2026-11-27", patches: [{ patch: "p", required: [{ machine: "web", phase: "baseline", kind: "suite", name: "web" }], evidence: [] }] });
    const file = writeGateJson(dir, d);
    expect(file).to.equal(path.join(dir, "gate.json"));
    expect(readGateJson(file)).to.deep.equal(d);
    expect(fs.readdirSync(dir)).to.deep.equal(["gate.json"]); // no temp file left behind
  });

  it("refuses to write a decision that does not match the schema", () => {
    const bad = { verdict: "maybe" } as unknown as Parameters<typeof writeGateJson>[1];
    expect(() => writeGateJson(dir, bad)).to.throw();
    expect(fs.existsSync(path.join(dir, "gate.json"))).to.equal(false);
  });
});
