// The end of a run: gate.json, summary.md, JUnit for the gate, Allure extras, and (on
// request) the Allure HTML report with history. Writing reports never touches results
// already written. A run stopped by bad input still ends here, with its problems in gate.json.
import fs from "node:fs";
import path from "node:path";
import type { LoadedBatch } from "../config/loader.ts";
import { ExitCode, type PatchlabError } from "../core/errors.ts";
import type { ConfigProblem, Decision, GateInput } from "../gate/gate.ts";
import { say } from "../core/log.ts";
import { reportsRoot } from "../core/paths.ts";
import { writeGateJson } from "../report/gate-json.ts";
import { writeAllureExtras } from "../report/allure-extras.ts";
import { generateHtmlReport } from "../report/html.ts";
import { ciJobUrl, summaryMarkdown } from "../report/summary-md.ts";
import { writeGateJunit } from "../report/junit-gate.ts";
import type { Journal } from "./journal.ts";
import { recordRun } from "../store/runs.ts";

export interface FinishInput {
  runDir: string;
  runId: string;
  batch: LoadedBatch;
  decision: Decision;
  html: boolean;
  journal: Journal;
  input: GateInput;
  waiversFile?: string | undefined;
  /** A previous report, history dir or run dir whose Allure history to continue. */
  historyFrom?: string;
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

export function writeSummary(runDir: string, decision: Decision, html: boolean): string {
  const file = path.join(runDir, "summary.md");
  fs.writeFileSync(file, summaryMarkdown(decision, {
    gateJson: "gate.json",
    ...(html ? { report: "allure-report/index.html" } : {}),
    ...(ciJobUrl() ? { ciJob: ciJobUrl()! } : {}),
  }));
  return file;
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
      ...(f.waiversFile ? { waivers: f.waiversFile } : {}),
    },
  };
  writeGateJson(f.runDir, decision);
  writeSummary(f.runDir, decision, f.html);
  writeGateJunit(path.join(f.runDir, "junit", "gate.xml"), decision, f.input);
  writeAllureExtras(f.runDir, {
    runId: f.runId,
    lab: f.batch.lab.lab.name,
    batch: f.batch.batch.name,
    patches: f.batch.patches.map((p) => p.patch.id),
  });
  await recordRun(decision, f.runDir); // the shared history (SQLite, or PostgreSQL with --store)
  const previous = pointLatest(f.runDir);
  if (f.html) {
    // History comes from the previous run's report, so trends survive across runs.
    const out = await generateHtmlReport(f.runDir, {
      ...(previous && previous !== f.runDir ? { previousRun: previous } : {}),
      ...(f.historyFrom ? { historyFrom: f.historyFrom } : {}),
    });
    say(`Allure report: ${path.relative(process.cwd(), out) || out}/index.html`);
  }
  return decision;
}

/**
 * A run that stopped before the lab was touched (bad input: exit 3; a missing host tool: exit 2)
 * still leaves gate.json and summary.md, so CI shows what to fix. Nothing else is written.
 */
export function writeBadInputReport(o: { runDir: string; runId: string; batchRef: string; loaded: LoadedBatch | undefined; err: PatchlabError; problems: ConfigProblem[] | undefined }): Decision {
  const bad = o.err.exitCode === ExitCode.badInput;
  const decision: Decision = {
    schemaVersion: 2,
    verdict: bad ? "bad-input" : "needs-review",
    exitCode: bad ? 3 : 2,
    summary: bad
      ? `Verdict: bad-input (exit 3). Nothing was changed; fix the input and run again:\n${o.err.describe()}`
      : `Verdict: needs-review (exit 2). The run could not start: ${o.err.describe()}`,
    patches: [],
    approvedSet: [],
    ...(o.problems ? { problems: o.problems } : { error: { kind: "kind" in o.err ? String((o.err as { kind: unknown }).kind) : o.err.name, message: o.err.message, remedy: o.err.remedy } }),
    run: {
      id: o.runId,
      batch: o.loaded?.batch.name ?? o.batchRef,
      lab: o.loaded?.lab.lab.name ?? "",
      decidedAt: new Date().toISOString(),
      patches: (o.loaded?.patches ?? []).map((p) => ({ id: p.patch.id, title: p.patch.title, severity: p.patch.severity })),
    },
  };
  fs.mkdirSync(o.runDir, { recursive: true });
  writeGateJson(o.runDir, decision);
  writeSummary(o.runDir, decision, false);
  return decision;
}
