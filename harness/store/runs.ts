// The end of every run writes its decision to the store, so `patchlab history` can show
// verdicts over time across runners. The store is a record, not the verdict: gate.json and
// the exit code stand whatever happens here, and a store that cannot be written is said
// loudly (never silently dropped).
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { asPatchlabError } from "../core/errors.ts";
import { say } from "../core/log.ts";
import type { Decision } from "../gate/gate.ts";
import { openStore } from "./open.ts";
import type { RunQuery, RunRecord, Store } from "./types.ts";

/** The run's record, from its decision and (for when it started) its journal. */
export function runRecordOf(decision: Decision, runDir?: string): RunRecord {
  const run = decision.run;
  const finishedAt = run?.decidedAt ?? new Date().toISOString();
  let startedAt = finishedAt;
  try {
    if (runDir) startedAt = (JSON.parse(fs.readFileSync(path.join(runDir, "run.json"), "utf8")) as { startedAt?: string }).startedAt ?? finishedAt;
  } catch { /* a run stopped before its journal: it took no time */ }
  return {
    runId: run?.id ?? path.basename(runDir ?? "unknown"),
    batch: run?.batch ?? "",
    lab: run?.lab ?? "",
    verdict: decision.verdict,
    exitCode: decision.exitCode,
    ...(decision.error ? { error: `${decision.error.kind}: ${decision.error.message}` } : decision.problems?.length ? { error: `bad input: ${decision.problems[0]!.message}` } : {}),
    startedAt,
    finishedAt,
    durationMs: Math.max(0, Date.parse(finishedAt) - Date.parse(startedAt)) || 0,
    runner: `${os.hostname()}:${process.pid}`,
    patches: decision.patches.map((p) => ({ patch: p.patch, ...(p.severity ? { severity: p.severity } : {}), verdict: p.verdict, reasons: p.reasons.length })),
  };
}

/**
 * Writes the run's decision to the store (the one given, else --store/PATCHLAB_STORE, else
 * SQLite). Returns false when it could not: the run's verdict is unchanged.
 */
export async function recordRun(decision: Decision, runDir?: string, store?: Store): Promise<boolean> {
  const s = store ?? safeOpen();
  if (!s) return false;
  try {
    await s.saveRun(runRecordOf(decision, runDir));
    return true;
  } catch (e) {
    say(`could not record the run in the store ${s.where} (gate.json and the exit code stand): ${asPatchlabError(e).message}`);
    return false;
  } finally {
    if (!store) await s.close();
  }
}

function safeOpen(): Store | undefined {
  try {
    return openStore();
  } catch (e) {
    say(`could not open the results store (gate.json and the exit code stand): ${asPatchlabError(e).message}`);
    return undefined;
  }
}

export function formatRuns(rows: RunRecord[]): string {
  if (rows.length === 0) return "no runs stored yet: `patchlab run <batch>` records each run's verdict";
  const lines = rows.flatMap((r) => [
    `${r.finishedAt}  ${r.runId.padEnd(40)} ${r.batch.padEnd(20)} ${r.lab.padEnd(12)} ${r.verdict.padEnd(13)} exit ${r.exitCode}  ${(r.durationMs / 1000).toFixed(0).padStart(5)} s  ${r.runner}${r.error ? `\n      ${r.error}` : ""}`,
    ...r.patches.map((p) => `      ${p.patch.padEnd(40)} ${p.verdict.padEnd(14)} ${p.reasons} reason(s)`),
  ]);
  return [`${"FINISHED".padEnd(24)}  ${"RUN".padEnd(40)} ${"BATCH".padEnd(20)} ${"LAB".padEnd(12)} ${"VERDICT".padEnd(13)} EXIT  TOOK    RUNNER`, ...lines].join("\n");
}

export async function history(q: RunQuery): Promise<RunRecord[]> {
  const s = openStore();
  try {
    return await s.runs(q);
  } finally {
    await s.close();
  }
}
