// The shared store: scan history and run results. SQLite (one file, the default) serves one
// runner; PostgreSQL lets several runners share one history. Both implement this interface,
// so `scan`, `scan history`, `history` and the end of every run do not care which it is.
import type { Detection, EntryResult } from "../inventory/detect.ts";
import type { InstalledPackage } from "../inventory/inventory.ts";
import type { HistoryRow, ScanRecord, StoredScan } from "../inventory/store.ts";

export type { HistoryRow, ScanRecord, StoredScan };

/** One patch's outcome in a run. */
export interface RunPatchRecord {
  patch: string;
  severity?: string;
  verdict: string;
  /** Results that were not a plain pass (each one a reason in gate.json). */
  reasons: number;
}

/** A run's decision as the store keeps it: enough to follow verdicts over time, per batch. */
export interface RunRecord {
  runId: string;
  batch: string;
  lab: string;
  verdict: string;
  exitCode: number;
  /** Why the run could not finish (a lab error), when it could not. */
  error?: string;
  startedAt: string;
  finishedAt: string;
  durationMs: number;
  /** Which runner decided: host name and process. */
  runner: string;
  patches: RunPatchRecord[];
}

export interface RunQuery {
  batch?: string;
  lab?: string;
  /** Newest first; at most this many (default 50). */
  limit?: number;
}

export interface Store {
  readonly kind: "sqlite" | "postgres";
  /** Where it is, for people (a file, or a URL without its password). */
  readonly where: string;

  /** Stores a whole scan at once (never half a scan); returns its id. */
  saveScan(scan: ScanRecord): Promise<number>;
  scans(lab?: string): Promise<StoredScan[]>;
  scanResults(scan: number): Promise<Map<string, EntryResult[]>>;
  /** Per machine, its newest results in the lab (scans taken during runs excluded). */
  latestResults(lab: string): Promise<Map<string, { scan: number; at: string; results: EntryResult[] }>>;
  latestInventories(lab: string): Promise<Map<string, Map<string, InstalledPackage>>>;
  /** Results of the lab's newest baseline scan, keyed machine NUL patch. */
  baseline(lab: string): Promise<Map<string, Detection> | undefined>;
  scanHistory(lab: string | undefined, machines?: string[]): Promise<HistoryRow[]>;

  /** Stores a run's decision; a run decided again (resumed, re-gated) replaces its earlier record. */
  saveRun(run: RunRecord): Promise<void>;
  runs(q?: RunQuery): Promise<RunRecord[]>;

  close(): Promise<void>;
}
