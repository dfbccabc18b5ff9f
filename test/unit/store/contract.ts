// What every results store must do, run against SQLite (unit) and a real PostgreSQL server
// (integration): the same scans and runs in, the same answers out.
import { expect } from "chai";
import type { Decision } from "../../../harness/gate/gate.ts";
import type { ScanRecord, Store } from "../../../harness/store/types.ts";
import { runRecordOf } from "../../../harness/store/runs.ts";

export function scanOf(lab: string, machine: string, statuses: Record<string, "installed" | "missing" | "not-applicable">, o: { baseline?: boolean; context?: string; at?: string } = {}): ScanRecord {
  const at = o.at ?? new Date().toISOString();
  return {
    lab,
    startedAt: at,
    finishedAt: at,
    baseline: !!o.baseline,
    ...(o.context ? { context: o.context } : {}),
    patches: Object.keys(statuses).map((id) => ({ id, title: `title ${id}`, severity: "important", kind: "apt" })),
    machines: [{ machine, packages: new Map([["nginx", { name: "nginx", version: "1.22", arch: "amd64" } as never]]), results: Object.entries(statuses).map(([patch, status]) => ({ patch, status, detail: `${patch} ${status}` })) }],
  };
}

export function decisionOf(runId: string, batch: string, verdicts: Record<string, "approved" | "rejected" | "needs-review">, o: { lab?: string; decidedAt?: string; error?: string } = {}): Decision {
  const patches = Object.entries(verdicts).map(([patch, verdict]) => ({
    patch,
    severity: "moderate",
    verdict,
    reasons: verdict === "approved" ? [] : [{ phase: "post-install", machine: "web", kind: "suite", check: "c", outcome: verdict === "rejected" ? "failed" : "broken", effect: verdict === "rejected" ? "rejects" : "undecided", message: "m" }],
    notes: [],
    counts: { required: 3, checks: 3, passed: 2, failed: 0, broken: 0, missing: 0, preExisting: 0, flaky: 0, waived: 0, skipped: 0 },
    payload: [],
    testedWith: [],
  }));
  const verdict = patches.some((p) => p.verdict === "rejected") ? "rejected" : patches.some((p) => p.verdict === "needs-review") ? "needs-review" : "approved";
  return {
    schemaVersion: 2,
    verdict,
    exitCode: verdict === "rejected" ? 1 : verdict === "needs-review" ? 2 : 0,
    summary: "",
    patches,
    approvedSet: [],
    ...(o.error ? { error: { kind: "machine-killed", message: o.error, remedy: "r" } } : {}),
    run: { id: runId, batch, lab: o.lab ?? "reference", decidedAt: o.decidedAt ?? new Date().toISOString(), patches: [] },
  } as unknown as Decision;
}

export function storeContract(open: () => Store | Promise<Store>): void {
  let store: Store;
  beforeEach(async () => (store = await open()));
  afterEach(async () => store.close());

  it("keeps scans: history per machine, newest results and inventories, the baseline; scans taken in runs are history only", async () => {
    const first = await store.saveScan(scanOf("lab1", "web", { A: "missing", B: "installed" }, { baseline: true, at: "2026-01-01T00:00:00Z" }));
    await store.saveScan(scanOf("lab1", "db", { A: "not-applicable", B: "missing" }, { at: "2026-01-01T00:00:01Z" }));
    const third = await store.saveScan(scanOf("lab1", "web", { A: "installed", B: "installed" }, { at: "2026-01-02T00:00:00Z" }));
    await store.saveScan(scanOf("lab1", "web", { A: "missing", B: "missing" }, { context: "run R: after installing A", at: "2026-01-03T00:00:00Z" }));
    await store.saveScan(scanOf("other", "web", { A: "missing" }));
    expect(third).to.be.greaterThan(first);
    expect((await store.scans("lab1")).map((s) => [s.baseline, s.context ?? ""])).to.deep.equal([[true, ""], [false, ""], [false, ""], [false, "run R: after installing A"]]);
    const hist = await store.scanHistory("lab1", ["web"]);
    expect(hist.map((h) => [h.machine, h.installed, h.missing, h.notApplicable, h.baseline])).to.deep.equal([["web", 1, 1, 0, true], ["web", 2, 0, 0, false], ["web", 0, 2, 0, false]]);
    expect((await store.scanHistory(undefined)).length).to.equal(5);
    const latest = await store.latestResults("lab1");
    expect(latest.get("web")!.scan).to.equal(third);
    expect(latest.get("web")!.results.map((r) => r.status)).to.deep.equal(["installed", "installed"]);
    expect(latest.get("db")!.results.find((r) => r.patch === "B")!.status).to.equal("missing");
    expect((await store.latestInventories("lab1")).get("web")!.get("nginx")).to.deep.include({ version: "1.22" });
    expect((await store.baseline("lab1"))!.get("web\u0000A")).to.equal("missing");
    expect(await store.baseline("other")).to.equal(undefined);
    expect((await store.scanResults(first)).get("web")!.length).to.equal(2);
  });

  it("keeps runs: verdict per patch, reasons, timings, runner; newest first, by batch; a run decided again replaces its record", async () => {
    await store.saveRun(runRecordOf(decisionOf("run-1", "nightly", { P1: "approved", P2: "rejected" }, { decidedAt: "2026-01-01T00:10:00Z" })));
    await store.saveRun(runRecordOf(decisionOf("run-2", "nightly", { P1: "approved" }, { decidedAt: "2026-01-02T00:10:00Z" })));
    await store.saveRun(runRecordOf(decisionOf("run-3", "weekly", { P3: "needs-review" }, { decidedAt: "2026-01-03T00:10:00Z", error: "web was killed" })));
    const all = await store.runs();
    expect(all.map((r) => r.runId)).to.deep.equal(["run-3", "run-2", "run-1"]);
    expect(all[0]).to.deep.include({ verdict: "needs-review", exitCode: 2, error: "machine-killed: web was killed", batch: "weekly" });
    const nightly = await store.runs({ batch: "nightly" });
    expect(nightly.map((r) => r.runId)).to.deep.equal(["run-2", "run-1"]);
    expect(nightly[1]!.patches).to.deep.equal([
      { patch: "P1", severity: "moderate", verdict: "approved", reasons: 0 },
      { patch: "P2", severity: "moderate", verdict: "rejected", reasons: 1 },
    ]);
    expect(nightly[1]!.verdict).to.equal("rejected");
    expect(nightly[1]!.runner).to.match(/:\d+$/);
    expect(await store.runs({ batch: "nightly", limit: 1 })).to.have.length(1);
    expect(await store.runs({ lab: "nowhere" })).to.deep.equal([]);
    // Resumed and decided again: one record, the new verdict.
    await store.saveRun(runRecordOf(decisionOf("run-1", "nightly", { P1: "approved", P2: "approved" }, { decidedAt: "2026-01-01T00:20:00Z" })));
    const again = (await store.runs({ batch: "nightly" })).find((r) => r.runId === "run-1")!;
    expect(again.verdict).to.equal("approved");
    expect(again.patches.map((p) => p.verdict)).to.deep.equal(["approved", "approved"]);
    expect((await store.runs()).length).to.equal(3);
  });
}
