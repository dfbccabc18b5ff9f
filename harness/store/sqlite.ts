// The embedded store: scans (harness/inventory/store.ts) and runs in one SQLite file,
// reports/inventory.sqlite by default. One runner at a time writes it (WAL, a busy timeout
// for the odd concurrent command on the same host).
import Database from "better-sqlite3";
import { ScanStore, storeFile } from "../inventory/store.ts";
import type { RunQuery, RunRecord, ScanRecord, Store } from "./types.ts";

const RUNS_SCHEMA = `
CREATE TABLE IF NOT EXISTS runs (
  run_id TEXT PRIMARY KEY,
  batch TEXT NOT NULL, lab TEXT NOT NULL,
  verdict TEXT NOT NULL, exit_code INTEGER NOT NULL, error TEXT,
  started_at TEXT NOT NULL, finished_at TEXT NOT NULL, duration_ms INTEGER NOT NULL,
  runner TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS run_patches (
  run_id TEXT NOT NULL REFERENCES runs(run_id) ON DELETE CASCADE,
  patch TEXT NOT NULL, severity TEXT, verdict TEXT NOT NULL, reasons INTEGER NOT NULL,
  PRIMARY KEY (run_id, patch)
);
CREATE INDEX IF NOT EXISTS runs_batch ON runs(batch, finished_at);
`;

interface RunRow {
  run_id: string; batch: string; lab: string; verdict: string; exit_code: number; error: string | null;
  started_at: string; finished_at: string; duration_ms: number; runner: string;
}

export class SqliteStore implements Store {
  readonly kind = "sqlite" as const;
  private readonly scanStore: ScanStore;
  private readonly db: Database.Database;

  constructor(readonly where: string = storeFile()) {
    this.scanStore = new ScanStore(where); // creates the file and the scan tables
    this.db = new Database(where);
    this.db.pragma("busy_timeout = 5000");
    this.db.pragma("foreign_keys = ON");
    this.db.exec(RUNS_SCHEMA);
  }

  async saveScan(scan: ScanRecord) { return this.scanStore.save(scan); }
  async scans(lab?: string) { return this.scanStore.scans(lab); }
  async scanResults(scan: number) { return this.scanStore.results(scan); }
  async latestResults(lab: string) { return this.scanStore.latestResults(lab); }
  async latestInventories(lab: string) { return this.scanStore.latestInventories(lab); }
  async baseline(lab: string) { return this.scanStore.baseline(lab); }
  async scanHistory(lab: string | undefined, machines?: string[]) { return this.scanStore.history(lab, machines); }

  async saveRun(r: RunRecord): Promise<void> {
    this.db.transaction(() => {
      this.db.prepare("DELETE FROM runs WHERE run_id = ?").run(r.runId);
      this.db
        .prepare("INSERT INTO runs (run_id, batch, lab, verdict, exit_code, error, started_at, finished_at, duration_ms, runner) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")
        .run(r.runId, r.batch, r.lab, r.verdict, r.exitCode, r.error ?? null, r.startedAt, r.finishedAt, r.durationMs, r.runner);
      const p = this.db.prepare("INSERT INTO run_patches (run_id, patch, severity, verdict, reasons) VALUES (?, ?, ?, ?, ?)");
      for (const x of r.patches) p.run(r.runId, x.patch, x.severity ?? null, x.verdict, x.reasons);
    })();
  }

  async runs(q: RunQuery = {}): Promise<RunRecord[]> {
    const where = [q.batch ? "batch = @batch" : "1=1", q.lab ? "lab = @lab" : "1=1"].join(" AND ");
    const rows = this.db
      .prepare(`SELECT * FROM runs WHERE ${where} ORDER BY finished_at DESC, run_id DESC LIMIT @limit`)
      .all({ ...(q.batch ? { batch: q.batch } : {}), ...(q.lab ? { lab: q.lab } : {}), limit: q.limit ?? 50 }) as RunRow[];
    const patches = this.db.prepare("SELECT patch, severity, verdict, reasons FROM run_patches WHERE run_id = ? ORDER BY patch");
    return rows.map((r) => fromRow(r, patches.all(r.run_id) as { patch: string; severity: string | null; verdict: string; reasons: number }[]));
  }

  async close(): Promise<void> {
    this.scanStore.close();
    this.db.close();
  }
}

export function fromRow(r: RunRow, patches: { patch: string; severity: string | null; verdict: string; reasons: number }[]): RunRecord {
  return {
    runId: r.run_id, batch: r.batch, lab: r.lab, verdict: r.verdict, exitCode: Number(r.exit_code),
    ...(r.error ? { error: r.error } : {}),
    startedAt: r.started_at, finishedAt: r.finished_at, durationMs: Number(r.duration_ms), runner: r.runner,
    patches: patches.map((p) => ({ patch: p.patch, ...(p.severity ? { severity: p.severity } : {}), verdict: p.verdict, reasons: Number(p.reasons) })),
  };
}
export type { RunRow };
