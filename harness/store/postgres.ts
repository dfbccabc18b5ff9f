// The shared store on PostgreSQL (`--store postgres://...`): several runners, on one host or
// many, write to and read from one history. Every call has a deadline (connect, statement,
// query); the schema is created under an advisory lock so two runners starting at once do
// not race each other's CREATE TABLE.
import pg from "pg";
import { LabError } from "../core/errors.ts";
import type { Detection, EntryResult } from "../inventory/detect.ts";
import type { InstalledPackage } from "../inventory/inventory.ts";
import { fromRow, type RunRow } from "./sqlite.ts";
import type { HistoryRow, RunQuery, RunRecord, ScanRecord, Store, StoredScan } from "./types.ts";

const SCHEMA = `
CREATE TABLE IF NOT EXISTS scans (
  id BIGSERIAL PRIMARY KEY,
  lab TEXT NOT NULL,
  started_at TEXT NOT NULL,
  finished_at TEXT NOT NULL,
  baseline BOOLEAN NOT NULL DEFAULT FALSE,
  context TEXT
);
CREATE TABLE IF NOT EXISTS scan_patches (
  scan_id BIGINT NOT NULL REFERENCES scans(id) ON DELETE CASCADE,
  patch TEXT NOT NULL, title TEXT NOT NULL, severity TEXT NOT NULL, kind TEXT NOT NULL,
  PRIMARY KEY (scan_id, patch)
);
CREATE TABLE IF NOT EXISTS results (
  scan_id BIGINT NOT NULL REFERENCES scans(id) ON DELETE CASCADE,
  machine TEXT NOT NULL, patch TEXT NOT NULL,
  status TEXT NOT NULL CHECK (status IN ('installed','missing','not-applicable')),
  detail TEXT NOT NULL,
  PRIMARY KEY (scan_id, machine, patch)
);
CREATE TABLE IF NOT EXISTS inventories (
  scan_id BIGINT NOT NULL REFERENCES scans(id) ON DELETE CASCADE,
  machine TEXT NOT NULL,
  packages TEXT NOT NULL,
  PRIMARY KEY (scan_id, machine)
);
CREATE INDEX IF NOT EXISTS scans_lab ON scans(lab, id);
CREATE INDEX IF NOT EXISTS results_machine ON results(machine, scan_id);
CREATE TABLE IF NOT EXISTS runs (
  run_id TEXT PRIMARY KEY,
  batch TEXT NOT NULL, lab TEXT NOT NULL,
  verdict TEXT NOT NULL, exit_code INTEGER NOT NULL, error TEXT,
  started_at TEXT NOT NULL, finished_at TEXT NOT NULL, duration_ms BIGINT NOT NULL,
  runner TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS run_patches (
  run_id TEXT NOT NULL REFERENCES runs(run_id) ON DELETE CASCADE,
  patch TEXT NOT NULL, severity TEXT, verdict TEXT NOT NULL, reasons INTEGER NOT NULL,
  PRIMARY KEY (run_id, patch)
);
CREATE INDEX IF NOT EXISTS runs_batch ON runs(batch, finished_at);
`;

/** Any number, the same for every patchlab: the advisory lock that serialises schema creation. */
const SCHEMA_LOCK = 0x7061_7463;

/** The URL for people: the password never shows. */
export function safeUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = "***";
    return u.toString();
  } catch {
    return "postgres://(unparsable)";
  }
}

export interface PostgresOptions {
  /** Deadline of a connection attempt, a statement, a query (ms). */
  connectMs?: number;
  statementMs?: number;
}

export class PostgresStore implements Store {
  readonly kind = "postgres" as const;
  readonly where: string;
  private readonly pool: pg.Pool;
  private ready: Promise<void> | undefined;

  constructor(url: string, o: PostgresOptions = {}) {
    this.where = safeUrl(url);
    const statementMs = o.statementMs ?? 30_000;
    this.pool = new pg.Pool({
      connectionString: url,
      max: 4,
      connectionTimeoutMillis: o.connectMs ?? 10_000,
      statement_timeout: statementMs,
      query_timeout: statementMs + 5_000,
      idleTimeoutMillis: 10_000,
      application_name: "patchlab",
    });
    // An idle client the server dropped must not crash the process; the next query reconnects.
    this.pool.on("error", () => undefined);
  }

  /** A query; trouble reaching the server is a LabError naming the store, never a crash or a hang. */
  private async q<R extends pg.QueryResultRow>(text: string, values: unknown[] = [], client?: pg.PoolClient): Promise<R[]> {
    await this.init();
    try {
      return (await (client ?? this.pool).query<R>(text, values)).rows;
    } catch (e) {
      throw this.storeError(e);
    }
  }

  private storeError(e: unknown): LabError {
    return new LabError(
      "store",
      `the results store ${this.where} failed: ${(e as Error).message}`,
      "check that the PostgreSQL server answers (`psql <url> -c 'select 1'`) and the user may create tables; or use the local store (omit --store and PATCHLAB_STORE)",
      {},
      { cause: e },
    );
  }

  private init(): Promise<void> {
    this.ready ??= (async () => {
      let c: pg.PoolClient;
      try {
        c = await this.pool.connect();
      } catch (e) {
        throw this.storeError(e);
      }
      try {
        await c.query("BEGIN");
        await c.query("SELECT pg_advisory_xact_lock($1)", [SCHEMA_LOCK]);
        await c.query(SCHEMA);
        await c.query("COMMIT");
      } catch (e) {
        await c.query("ROLLBACK").catch(() => undefined);
        throw this.storeError(e);
      } finally {
        c.release();
      }
    })();
    return this.ready;
  }

  /** Runs fn in one transaction: all of it is stored, or nothing. */
  private async tx<T>(fn: (c: pg.PoolClient) => Promise<T>): Promise<T> {
    await this.init();
    let c: pg.PoolClient;
    try {
      c = await this.pool.connect();
    } catch (e) {
      throw this.storeError(e);
    }
    try {
      await c.query("BEGIN");
      const out = await fn(c);
      await c.query("COMMIT");
      return out;
    } catch (e) {
      await c.query("ROLLBACK").catch(() => undefined);
      throw e instanceof LabError ? e : this.storeError(e);
    } finally {
      c.release();
    }
  }

  saveScan(scan: ScanRecord): Promise<number> {
    return this.tx(async (c) => {
      const [row] = (await c.query<{ id: string }>("INSERT INTO scans (lab, started_at, finished_at, baseline, context) VALUES ($1, $2, $3, $4, $5) RETURNING id", [scan.lab, scan.startedAt, scan.finishedAt, scan.baseline, scan.context ?? null])).rows;
      const id = Number(row!.id);
      for (const x of scan.patches) await c.query("INSERT INTO scan_patches (scan_id, patch, title, severity, kind) VALUES ($1, $2, $3, $4, $5)", [id, x.id, x.title, x.severity, x.kind]);
      for (const m of scan.machines) {
        for (const x of m.results) await c.query("INSERT INTO results (scan_id, machine, patch, status, detail) VALUES ($1, $2, $3, $4, $5)", [id, m.machine, x.patch, x.status, x.detail]);
        await c.query("INSERT INTO inventories (scan_id, machine, packages) VALUES ($1, $2, $3)", [id, m.machine, JSON.stringify(Object.fromEntries(m.packages))]);
      }
      return id;
    });
  }

  async scans(lab?: string): Promise<StoredScan[]> {
    const rows = await this.q<{ id: string; lab: string; started_at: string; finished_at: string; baseline: boolean; context: string | null }>(
      lab ? "SELECT * FROM scans WHERE lab = $1 ORDER BY id" : "SELECT * FROM scans ORDER BY id",
      lab ? [lab] : [],
    );
    return rows.map((r) => ({ id: Number(r.id), lab: r.lab, startedAt: r.started_at, finishedAt: r.finished_at, baseline: r.baseline, ...(r.context ? { context: r.context } : {}) }));
  }

  async scanResults(scan: number): Promise<Map<string, EntryResult[]>> {
    const rows = await this.q<{ machine: string; patch: string; status: Detection; detail: string }>("SELECT machine, patch, status, detail FROM results WHERE scan_id = $1 ORDER BY machine, patch", [scan]);
    const out = new Map<string, EntryResult[]>();
    for (const r of rows) out.set(r.machine, [...(out.get(r.machine) ?? []), { patch: r.patch, status: r.status, detail: r.detail }]);
    return out;
  }

  async latestResults(lab: string): Promise<Map<string, { scan: number; at: string; results: EntryResult[] }>> {
    const rows = await this.q<{ machine: string; patch: string; status: Detection; detail: string; scan_id: string; finished_at: string }>(
      `SELECT r.machine, r.patch, r.status, r.detail, r.scan_id, s.finished_at FROM results r JOIN scans s ON s.id = r.scan_id
       WHERE s.lab = $1 AND r.scan_id = (SELECT MAX(r2.scan_id) FROM results r2 JOIN scans s2 ON s2.id = r2.scan_id WHERE s2.lab = s.lab AND s2.context IS NULL AND r2.machine = r.machine)
       ORDER BY r.machine, r.patch`,
      [lab],
    );
    const out = new Map<string, { scan: number; at: string; results: EntryResult[] }>();
    for (const r of rows) {
      const e = out.get(r.machine) ?? { scan: Number(r.scan_id), at: r.finished_at, results: [] };
      e.results.push({ patch: r.patch, status: r.status, detail: r.detail });
      out.set(r.machine, e);
    }
    return out;
  }

  async latestInventories(lab: string): Promise<Map<string, Map<string, InstalledPackage>>> {
    const rows = await this.q<{ machine: string; packages: string }>(
      `SELECT i.machine, i.packages FROM inventories i JOIN scans s ON s.id = i.scan_id
       WHERE s.lab = $1 AND i.scan_id = (SELECT MAX(i2.scan_id) FROM inventories i2 JOIN scans s2 ON s2.id = i2.scan_id WHERE s2.lab = s.lab AND s2.context IS NULL AND i2.machine = i.machine)`,
      [lab],
    );
    return new Map(rows.map((r) => [r.machine, new Map(Object.entries(JSON.parse(r.packages) as Record<string, InstalledPackage>))]));
  }

  async baseline(lab: string): Promise<Map<string, Detection> | undefined> {
    const [b] = await this.q<{ id: string }>("SELECT id FROM scans WHERE lab = $1 AND baseline ORDER BY id DESC LIMIT 1", [lab]);
    if (!b) return undefined;
    const rows = await this.q<{ machine: string; patch: string; status: Detection }>("SELECT machine, patch, status FROM results WHERE scan_id = $1", [b.id]);
    return new Map(rows.map((r) => [`${r.machine}\u0000${r.patch}`, r.status]));
  }

  async scanHistory(lab: string | undefined, machines?: string[]): Promise<HistoryRow[]> {
    const values: unknown[] = [];
    const where: string[] = [];
    if (lab) where.push(`s.lab = $${values.push(lab)}`);
    if (machines?.length) where.push(`r.machine = ANY($${values.push(machines)})`);
    const rows = await this.q<{ scan: string; at: string; baseline: boolean; context: string | null; machine: string; installed: string; missing: string; na: string }>(
      `SELECT s.id AS scan, s.finished_at AS at, s.baseline AS baseline, s.context AS context, r.machine AS machine,
              COUNT(*) FILTER (WHERE r.status = 'installed') AS installed, COUNT(*) FILTER (WHERE r.status = 'missing') AS missing,
              COUNT(*) FILTER (WHERE r.status = 'not-applicable') AS na
       FROM results r JOIN scans s ON s.id = r.scan_id ${where.length ? `WHERE ${where.join(" AND ")}` : ""}
       GROUP BY s.id, r.machine ORDER BY s.id, r.machine`,
      values,
    );
    return rows.map((r) => ({ scan: Number(r.scan), at: r.at, baseline: r.baseline, ...(r.context ? { context: r.context } : {}), machine: r.machine, installed: Number(r.installed), missing: Number(r.missing), notApplicable: Number(r.na) }));
  }

  saveRun(r: RunRecord): Promise<void> {
    return this.tx(async (c) => {
      await c.query("DELETE FROM runs WHERE run_id = $1", [r.runId]);
      await c.query(
        "INSERT INTO runs (run_id, batch, lab, verdict, exit_code, error, started_at, finished_at, duration_ms, runner) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        [r.runId, r.batch, r.lab, r.verdict, r.exitCode, r.error ?? null, r.startedAt, r.finishedAt, r.durationMs, r.runner],
      );
      for (const x of r.patches) await c.query("INSERT INTO run_patches (run_id, patch, severity, verdict, reasons) VALUES ($1, $2, $3, $4, $5)", [r.runId, x.patch, x.severity ?? null, x.verdict, x.reasons]);
    });
  }

  async runs(q: RunQuery = {}): Promise<RunRecord[]> {
    const values: unknown[] = [];
    const where: string[] = [];
    if (q.batch) where.push(`batch = $${values.push(q.batch)}`);
    if (q.lab) where.push(`lab = $${values.push(q.lab)}`);
    const rows = await this.q<RunRow>(`SELECT * FROM runs ${where.length ? `WHERE ${where.join(" AND ")}` : ""} ORDER BY finished_at DESC, run_id DESC LIMIT $${values.push(q.limit ?? 50)}`, values);
    if (rows.length === 0) return [];
    const patches = await this.q<{ run_id: string; patch: string; severity: string | null; verdict: string; reasons: number }>("SELECT run_id, patch, severity, verdict, reasons FROM run_patches WHERE run_id = ANY($1) ORDER BY patch", [rows.map((r) => r.run_id)]);
    return rows.map((r) => fromRow(r, patches.filter((p) => p.run_id === r.run_id)));
  }

  async close(): Promise<void> {
    await this.pool.end().catch(() => undefined);
  }
}
