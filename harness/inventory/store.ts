// The scan history: every scan's per-machine, per-patch results (and the package inventory
// it saw) in an embedded SQLite database under reports/, so compliance can be followed over
// time and a plan can be made from the last scan without touching the lab.
import fs from "node:fs";
import path from "node:path";
import Database from "better-sqlite3";
import { reportsRoot } from "../core/paths.ts";
import type { Detection, EntryResult } from "./detect.ts";
import type { InstalledPackage } from "./inventory.ts";

export const storeFile = () => path.resolve(process.env.PATCHLAB_INVENTORY_DB ?? path.join(reportsRoot(), "inventory.sqlite"));

export interface ScanRecord {
  lab: string;
  startedAt: string;
  finishedAt: string;
  baseline: boolean;
  /** Why the scan was taken when not by `patchlab scan`, e.g. "run X: after installing P". */
  context?: string;
  patches: { id: string; title: string; severity: string; kind: string }[];
  machines: { machine: string; packages: Map<string, InstalledPackage>; results: EntryResult[] }[];
}

export interface StoredScan {
  id: number;
  lab: string;
  startedAt: string;
  finishedAt: string;
  baseline: boolean;
  context?: string;
}

export interface HistoryRow {
  scan: number;
  at: string;
  baseline: boolean;
  context?: string;
  machine: string;
  installed: number;
  missing: number;
  notApplicable: number;
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS scans (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  lab TEXT NOT NULL,
  started_at TEXT NOT NULL,
  finished_at TEXT NOT NULL,
  baseline INTEGER NOT NULL DEFAULT 0,
  context TEXT
);
CREATE TABLE IF NOT EXISTS scan_patches (
  scan_id INTEGER NOT NULL REFERENCES scans(id) ON DELETE CASCADE,
  patch TEXT NOT NULL, title TEXT NOT NULL, severity TEXT NOT NULL, kind TEXT NOT NULL,
  PRIMARY KEY (scan_id, patch)
);
CREATE TABLE IF NOT EXISTS results (
  scan_id INTEGER NOT NULL REFERENCES scans(id) ON DELETE CASCADE,
  machine TEXT NOT NULL, patch TEXT NOT NULL,
  status TEXT NOT NULL CHECK (status IN ('installed','missing','not-applicable')),
  detail TEXT NOT NULL,
  PRIMARY KEY (scan_id, machine, patch)
);
CREATE TABLE IF NOT EXISTS inventories (
  scan_id INTEGER NOT NULL REFERENCES scans(id) ON DELETE CASCADE,
  machine TEXT NOT NULL,
  packages TEXT NOT NULL,
  PRIMARY KEY (scan_id, machine)
);
CREATE INDEX IF NOT EXISTS scans_lab ON scans(lab, id);
CREATE INDEX IF NOT EXISTS results_machine ON results(machine, scan_id);
`;

export class ScanStore {
  private readonly db: Database.Database;

  constructor(file = storeFile()) {
    fs.mkdirSync(path.dirname(file), { recursive: true });
    this.db = new Database(file);
    this.db.pragma("journal_mode = WAL");
    this.db.pragma("busy_timeout = 5000");
    this.db.pragma("foreign_keys = ON");
    this.db.exec(SCHEMA);
    const cols = this.db.prepare("PRAGMA table_info(scans)").all() as { name: string }[];
    if (!cols.some((c) => c.name === "context")) this.db.exec("ALTER TABLE scans ADD COLUMN context TEXT");
  }

  close(): void {
    this.db.close();
  }

  /** Stores a whole scan in one transaction (a crash never leaves half a scan). */
  save(scan: ScanRecord): number {
    const tx = this.db.transaction(() => {
      const id = Number(
        this.db
          .prepare("INSERT INTO scans (lab, started_at, finished_at, baseline, context) VALUES (?, ?, ?, ?, ?)")
          .run(scan.lab, scan.startedAt, scan.finishedAt, scan.baseline ? 1 : 0, scan.context ?? null).lastInsertRowid,
      );
      const p = this.db.prepare("INSERT INTO scan_patches (scan_id, patch, title, severity, kind) VALUES (?, ?, ?, ?, ?)");
      for (const x of scan.patches) p.run(id, x.id, x.title, x.severity, x.kind);
      const r = this.db.prepare("INSERT INTO results (scan_id, machine, patch, status, detail) VALUES (?, ?, ?, ?, ?)");
      const inv = this.db.prepare("INSERT INTO inventories (scan_id, machine, packages) VALUES (?, ?, ?)");
      for (const m of scan.machines) {
        for (const x of m.results) r.run(id, m.machine, x.patch, x.status, x.detail);
        inv.run(id, m.machine, JSON.stringify(Object.fromEntries(m.packages)));
      }
      return id;
    });
    return tx();
  }

  scans(lab?: string): StoredScan[] {
    const rows = (lab ? this.db.prepare("SELECT * FROM scans WHERE lab = ? ORDER BY id").all(lab) : this.db.prepare("SELECT * FROM scans ORDER BY id").all()) as {
      id: number; lab: string; started_at: string; finished_at: string; baseline: number; context: string | null;
    }[];
    return rows.map((r) => ({ id: r.id, lab: r.lab, startedAt: r.started_at, finishedAt: r.finished_at, baseline: r.baseline === 1, ...(r.context ? { context: r.context } : {}) }));
  }

  /** One stored scan's results, per machine. */
  results(scan: number): Map<string, EntryResult[]> {
    const rows = this.db.prepare("SELECT machine, patch, status, detail FROM results WHERE scan_id = ? ORDER BY machine, patch").all(scan) as { machine: string; patch: string; status: Detection; detail: string }[];
    const out = new Map<string, EntryResult[]>();
    for (const r of rows) out.set(r.machine, [...(out.get(r.machine) ?? []), { patch: r.patch, status: r.status, detail: r.detail }]);
    return out;
  }

  /** Per machine, its newest results in the lab (machines scanned alone keep their own newest). */
  latestResults(lab: string): Map<string, { scan: number; at: string; results: EntryResult[] }> {
    const rows = this.db
      .prepare(
        `SELECT r.machine, r.patch, r.status, r.detail, r.scan_id, s.finished_at FROM results r JOIN scans s ON s.id = r.scan_id
         WHERE s.lab = ? AND r.scan_id = (SELECT MAX(r2.scan_id) FROM results r2 JOIN scans s2 ON s2.id = r2.scan_id WHERE s2.lab = s.lab AND s2.context IS NULL AND r2.machine = r.machine)`,
      )
      .all(lab) as { machine: string; patch: string; status: Detection; detail: string; scan_id: number; finished_at: string }[];
    const out = new Map<string, { scan: number; at: string; results: EntryResult[] }>();
    for (const r of rows) {
      const e = out.get(r.machine) ?? { scan: r.scan_id, at: r.finished_at, results: [] };
      e.results.push({ patch: r.patch, status: r.status, detail: r.detail });
      out.set(r.machine, e);
    }
    return out;
  }

  /** Each machine's newest stored package inventory in the lab. */
  latestInventories(lab: string): Map<string, Map<string, InstalledPackage>> {
    const rows = this.db
      .prepare(
        `SELECT i.machine, i.packages FROM inventories i JOIN scans s ON s.id = i.scan_id
         WHERE s.lab = ? AND i.scan_id = (SELECT MAX(i2.scan_id) FROM inventories i2 JOIN scans s2 ON s2.id = i2.scan_id WHERE s2.lab = s.lab AND s2.context IS NULL AND i2.machine = i.machine)`,
      )
      .all(lab) as { machine: string; packages: string }[];
    return new Map(rows.map((r) => [r.machine, new Map(Object.entries(JSON.parse(r.packages) as Record<string, InstalledPackage>))]));
  }

  /** Results of the lab's newest baseline scan, per machine and patch. */
  baseline(lab: string): Map<string, Detection> | undefined {
    const b = this.db.prepare("SELECT id FROM scans WHERE lab = ? AND baseline = 1 ORDER BY id DESC LIMIT 1").get(lab) as { id: number } | undefined;
    if (!b) return undefined;
    const rows = this.db.prepare("SELECT machine, patch, status FROM results WHERE scan_id = ?").all(b.id) as { machine: string; patch: string; status: Detection }[];
    return new Map(rows.map((r) => [`${r.machine}\u0000${r.patch}`, r.status]));
  }

  history(lab: string | undefined, machines?: string[]): HistoryRow[] {
    const where = [lab ? "s.lab = @lab" : "1=1", machines?.length ? `r.machine IN (${machines.map((_, i) => `@m${i}`).join(",")})` : "1=1"].join(" AND ");
    const params: Record<string, string> = { ...(lab ? { lab } : {}), ...Object.fromEntries((machines ?? []).map((m, i) => [`m${i}`, m])) };
    const rows = this.db
      .prepare(
        `SELECT s.id AS scan, s.finished_at AS at, s.baseline AS baseline, s.context AS context, r.machine AS machine,
                SUM(r.status = 'installed') AS installed, SUM(r.status = 'missing') AS missing, SUM(r.status = 'not-applicable') AS na
         FROM results r JOIN scans s ON s.id = r.scan_id WHERE ${where}
         GROUP BY s.id, r.machine ORDER BY s.id, r.machine`,
      )
      .all(params) as { scan: number; at: string; baseline: number; context: string | null; machine: string; installed: number; missing: number; na: number }[];
    return rows.map((r) => ({ scan: r.scan, at: r.at, baseline: r.baseline === 1, ...(r.context ? { context: r.context } : {}), machine: r.machine, installed: r.installed, missing: r.missing, notApplicable: r.na }));
  }
}
