import { expect } from "chai";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { finishedMachines, readRecords, recordsOf, RecordsFile, RECORDS_FILE } from "../../../harness/run/records.ts";
import { mapLimit } from "../../../harness/core/limit.ts";

const step = (machine: string, step: "install" | "pipeline", patch?: string) => ({ type: "step" as const, machine, step, status: "passed" as const, message: "ok", start: 1, stop: 2, ...(patch ? { patch } : {}) });

describe("run records (records.jsonl)", () => {
  let dir: string;
  beforeEach(() => (dir = fs.mkdtempSync(path.join(os.tmpdir(), "patchlab-records-"))));
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it("keeps every appended record; a torn last line (killed mid-write) is ignored, not misread", () => {
    const f = new RecordsFile(dir);
    f.append(step("web", "install", "P1"));
    f.append({ type: "suite", machine: "web", phase: "baseline", result: { suite: "web", tests: [], crashed: false, detail: "" } });
    f.close();
    fs.appendFileSync(path.join(dir, RECORDS_FILE), '{"type":"step","machine":"web","st');
    const r = readRecords(dir);
    expect(r.steps).to.have.length(1);
    expect(r.suites).to.have.length(1);
  });

  it("a resume keeps the records of machines whose pipeline finished, and only those", () => {
    const f = new RecordsFile(dir);
    for (const l of [step("web", "install", "P1"), step("web", "pipeline"), step("dns", "install", "P1")]) f.append(l);
    f.close();
    const all = readRecords(dir);
    expect([...finishedMachines(all)]).to.deep.equal(["web"]);
    const kept = recordsOf(all, finishedMachines(all));
    new RecordsFile(dir, kept).close();
    expect(readRecords(dir).steps.map((s) => s.machine)).to.deep.equal(["web", "web"]);
  });

  it("refuses to write a record that does not match its schema", () => {
    const f = new RecordsFile(dir);
    expect(() => f.append({ type: "step", machine: "web" } as never)).to.throw();
    f.close();
  });
});

describe("mapLimit", () => {
  it("runs at most `limit` at once, keeps the order of results, and runs everything", async () => {
    let running = 0;
    let peak = 0;
    const out = await mapLimit([5, 1, 3, 2, 4], 2, async (x) => {
      running++;
      peak = Math.max(peak, running);
      await new Promise((r) => setTimeout(r, x * 3));
      running--;
      return x * 10;
    });
    expect(out).to.deep.equal([50, 10, 30, 20, 40]);
    expect(peak).to.equal(2);
  });
});
