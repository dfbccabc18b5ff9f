import { expect } from "chai";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { writeLifecycleResult } from "../../../harness/report/lifecycle.ts";
import { readAllureOutcomes } from "../../../harness/report/allure-read.ts";

type Result = { uuid: string; name: string; status: string; historyId: string; start: number; stop: number; statusDetails: { message?: string; trace?: string }; labels: { name: string; value: string }[] };

describe("report: lifecycle steps as Allure results", () => {
  let dir: string;
  const read = (uuid: string): Result => JSON.parse(fs.readFileSync(path.join(dir, `${uuid}-result.json`), "utf8"));
  const label = (r: Result, name: string) => r.labels.filter((l) => l.name === name).map((l) => l.value);
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "patchlab-lifecycle-"));
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it("writes an Allure 2 result with uuid, historyId, status, timing, message and labels", () => {
    const uuid = writeLifecycleResult(dir, { name: "install nginx", phase: "install", patch: "nginx-1.22", machine: "web", status: "failed", message: "dpkg: error processing package nginx", output: "full dpkg output", start: 1000, stop: 4000 });
    const r = read(uuid);
    expect(r).to.include({ uuid, name: "install nginx", status: "failed", start: 1000, stop: 4000 });
    expect(r.historyId).to.be.a("string").and.not.equal("");
    expect(r.statusDetails).to.deep.equal({ message: "dpkg: error processing package nginx", trace: "full dpkg output" });
    expect(label(r, "parentSuite")).to.deep.equal(["install"]);
    expect(label(r, "phase")).to.deep.equal(["install"]);
    expect(label(r, "patch")).to.deep.equal(["nginx-1.22"]);
    expect(label(r, "machine")).to.deep.equal(["web"]);
    expect(label(r, "host")).to.deep.equal(["web"]);
  });

  it("gives the same step a stable historyId across runs and different ones per machine", () => {
    const a = read(writeLifecycleResult(dir, { phase: "install", patch: "p", machine: "web", status: "passed", start: 1, stop: 2 }));
    const b = read(writeLifecycleResult(dir, { phase: "install", patch: "p", machine: "web", status: "passed", start: 5, stop: 6 }));
    const c = read(writeLifecycleResult(dir, { phase: "install", patch: "p", machine: "db", status: "passed", start: 5, stop: 6 }));
    expect(a.historyId).to.equal(b.historyId);
    expect(a.historyId).to.not.equal(c.historyId);
    expect(a.name).to.equal("install p");
  });

  it("accepts step records as the orchestrator keeps them (step instead of phase, no patch)", () => {
    const r = read(writeLifecycleResult(dir, { step: "restore", machine: "web", status: "broken", message: "restore failed", start: 1, stop: 2, runId: "r1", lab: "reference" }));
    expect(r).to.include({ name: "restore", status: "broken" });
    expect(label(r, "run")).to.deep.equal(["r1"]);
    expect(label(r, "patch")).to.deep.equal([]);
  });

  it("is read back by the same reader the suite runner uses", () => {
    writeLifecycleResult(dir, { phase: "uninstall", patch: "p", machine: "web", status: "failed", message: "prerm failed", start: 10, stop: 30 });
    expect(readAllureOutcomes(dir, { phase: "uninstall" })).to.deep.equal([{ name: "uninstall p", status: "failed", message: "prerm failed", durationMs: 20 }]);
  });
});
