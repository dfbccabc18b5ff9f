// The end of a run: gate.json, Allure extras, a summary for people, and (on request) the
// Allure HTML report with history. Writing reports never touches results already written.
import fs from "node:fs";
import path from "node:path";
import type { LoadedBatch } from "../config/loader.ts";
import type { Decision } from "../gate/gate.ts";
import { say } from "../core/log.ts";
import { reportsRoot } from "../core/paths.ts";
import { writeGateJson } from "../report/gate-json.ts";
import { writeAllureExtras } from "../report/allure-extras.ts";
import { generateHtmlReport } from "../report/html.ts";
import type { Journal } from "./journal.ts";

export interface FinishInput {
  runDir: string;
  runId: string;
  batch: LoadedBatch;
  decision: Decision;
  html: boolean;
  journal: Journal;
}

/** reports/latest -> the newest run, so "the last report" has a stable address. */
function pointLatest(runDir: string): string | undefined {
  const link = path.join(reportsRoot(), "latest");
  let previous: string | undefined;
  try {
    previous = path.resolve(reportsRoot(), fs.readlinkSync(link));
    fs.unlinkSync(link);
  } catch { /* first run */ }
  fs.symlinkSync(path.basename(runDir), link);
  return previous;
}

/** Writes the run's reports; returns the decision as written to gate.json (with its run). */
export async function writeRunReport(f: FinishInput): Promise<Decision> {
  const decision: Decision = {
    ...f.decision,
    run: {
      id: f.runId,
      batch: f.batch.batch.name,
      lab: f.batch.lab.lab.name,
      decidedAt: new Date().toISOString(),
      patches: f.batch.patches.map((p) => ({ id: p.patch.id, title: p.patch.title, severity: p.patch.severity })),
    },
  };
  writeGateJson(f.runDir, decision);
  writeAllureExtras(f.runDir, {
    runId: f.runId,
    lab: f.batch.lab.lab.name,
    batch: f.batch.batch.name,
    patches: f.batch.patches.map((p) => p.patch.id),
  });
  const previous = pointLatest(f.runDir);
  if (f.html) {
    // History comes from the previous run's report, so trends survive across runs.
    const out = await generateHtmlReport(f.runDir, previous && previous !== f.runDir ? previous : undefined);
    say(`Allure report: ${path.relative(process.cwd(), out) || out}/index.html`);
  }
  return decision;
}
