// Allure's history (trends, "new failed", per-check history) is carried from one report to the
// next by copying the previous report's history/ into the results. patchlab keeps it per batch
// name, so the trend of a batch shows across patch cycles whatever else ran in between:
//   reports/.history/<batch>/history/   the newest report's history for that batch
//   reports/.history/<batch>/from.json  which run wrote it
//   <run>/allure-history-input/         what this run's report was built on, so generating it
//                                       again gives the same trend instead of counting itself twice.
// In a fresh CI workspace, `--history-from DIR` takes a previous allure-report or a saved history dir.
import fs from "node:fs";
import path from "node:path";
import { ConfigError } from "../core/errors.ts";
import { reportsRoot } from "../core/paths.ts";

const TREND = "history-trend.json";
export const HISTORY_INPUT = "allure-history-input";

/** The history dir inside `dir`: `dir` itself, `dir/history` (a report) or `dir/allure-report/history` (a run). */
export function findHistoryDir(dir: string): string | undefined {
  return [dir, path.join(dir, "history"), path.join(dir, "allure-report", "history")].find((d) => fs.existsSync(path.join(d, TREND)));
}

export function historyStoreOf(batch: string): string {
  return path.join(reportsRoot(), ".history", batch.replace(/[^A-Za-z0-9._-]/g, "_"));
}

/** Next build order after the history's newest entry (1 for the first report). */
export function nextBuildOrder(historyDir: string | undefined): number {
  if (!historyDir) return 1;
  try {
    const trend = JSON.parse(fs.readFileSync(path.join(historyDir, TREND), "utf8")) as { buildOrder?: number }[];
    const orders = trend.map((t) => t.buildOrder).filter((n): n is number => typeof n === "number");
    return orders.length ? Math.max(...orders) + 1 : trend.length + 1;
  } catch {
    return 1;
  }
}

export interface HistoryChoice {
  /** The history dir to build on, or undefined to start afresh. */
  dir: string | undefined;
  /** For people: where it came from. */
  source: string;
}

/**
 * Which history this run's report builds on: an explicit `--history-from`, else the input an
 * earlier generation of this run used, else the batch's store (unless the store holds this
 * run's own output), else none. `hint` (a previous run dir) is used only if it is this batch's.
 */
export function chooseHistory(o: { runDir: string; runId: string; batch: string; historyFrom?: string; hint?: string }): HistoryChoice {
  if (o.historyFrom) {
    // A CI cache restored empty on the first cycle: nothing to continue yet, not a mistake.
    if (isEmptyDir(o.historyFrom)) return { dir: undefined, source: `none: --history-from ${o.historyFrom} is empty, this report starts the batch's history` };
    const dir = findHistoryDir(o.historyFrom);
    if (!dir) {
      throw new ConfigError(
        `--history-from ${o.historyFrom}: no Allure history there (looked for ${TREND} in it, in history/ and in allure-report/history/)`,
        "pass a previous allure-report directory (e.g. a downloaded CI artifact), its history/ directory, or a patchlab run directory",
        { field: "--history-from", value: o.historyFrom },
      );
    }
    return { dir, source: `--history-from ${o.historyFrom}` };
  }
  const recorded = path.join(o.runDir, HISTORY_INPUT);
  if (fs.existsSync(path.join(recorded, TREND))) return { dir: recorded, source: "the history this run's report was first built on" };
  if (o.hint && batchOfRun(o.hint) === o.batch && path.resolve(o.hint) !== path.resolve(o.runDir)) {
    const dir = findHistoryDir(o.hint);
    if (dir) return { dir, source: `previous run ${path.basename(o.hint)}` };
  }
  const store = historyStoreOf(o.batch);
  const from = storeRun(store);
  const dir = findHistoryDir(store);
  if (dir && from !== o.runId) return { dir, source: `batch ${o.batch}'s history (from run ${from ?? "?"})` };
  return { dir: undefined, source: "none: this report starts the batch's history" };
}

/** Keeps the input of this run's report (so it can be generated again identically). */
export function recordHistoryInput(runDir: string, choice: HistoryChoice): void {
  const recorded = path.join(runDir, HISTORY_INPUT);
  if (!choice.dir || path.resolve(choice.dir) === path.resolve(recorded)) return;
  fs.rmSync(recorded, { recursive: true, force: true });
  fs.cpSync(choice.dir, recorded, { recursive: true });
}

/** After a report: its history becomes the batch's, unless a newer run's is already there. */
export function saveToStore(batch: string, runId: string, reportHistory: string): boolean {
  if (!fs.existsSync(path.join(reportHistory, TREND))) return false;
  const store = historyStoreOf(batch);
  const current = storeRun(store);
  if (current !== undefined && current > runId) return false; // run ids start with their UTC time
  const tmp = `${store}.${process.pid}.tmp`;
  fs.rmSync(tmp, { recursive: true, force: true });
  fs.mkdirSync(tmp, { recursive: true });
  fs.cpSync(reportHistory, path.join(tmp, "history"), { recursive: true });
  fs.writeFileSync(path.join(tmp, "from.json"), JSON.stringify({ runId, savedAt: new Date().toISOString() }) + "\n");
  fs.rmSync(store, { recursive: true, force: true });
  fs.mkdirSync(path.dirname(store), { recursive: true });
  fs.renameSync(tmp, store);
  return true;
}

function isEmptyDir(dir: string): boolean {
  try {
    return fs.readdirSync(dir).length === 0;
  } catch {
    return false;
  }
}

function storeRun(store: string): string | undefined {
  try {
    return (JSON.parse(fs.readFileSync(path.join(store, "from.json"), "utf8")) as { runId?: string }).runId;
  } catch {
    return undefined;
  }
}

/** The batch a run dir belongs to (gate.json, else environment.properties), if it says. */
export function batchOfRun(runDir: string): string | undefined {
  try {
    const g = JSON.parse(fs.readFileSync(path.join(runDir, "gate.json"), "utf8")) as { run?: { batch?: string } };
    if (g.run?.batch) return g.run.batch;
  } catch {
    /* fall through */
  }
  try {
    const env = fs.readFileSync(path.join(runDir, "allure-results", "environment.properties"), "utf8");
    return /^batch\s*=\s*(.+)$/m.exec(env)?.[1]?.trim();
  } catch {
    return undefined;
  }
}
