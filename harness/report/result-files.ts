// Reading and rewriting Allure result files (`<uuid>-result.json`) in a directory. Used on a
// suite's private staging dir (to add what cannot travel as ALLURE_LABEL_* variables: repeated
// labels, links) and on a report's staging copy, never on another process's files in flight.
import fs from "node:fs";
import path from "node:path";
import { applyMeta, type AllureLabel, type AllureLink, type ResultMeta } from "./labels.ts";

export interface ResultFile {
  uuid?: string;
  historyId?: string;
  name?: string;
  fullName?: string;
  titlePath?: string[];
  status?: string;
  statusDetails?: { message?: string; trace?: string; flaky?: boolean };
  labels?: AllureLabel[];
  links?: AllureLink[];
  parameters?: { name: string; value: string }[];
  attachments?: { name: string; source: string; type?: string }[];
  start?: number;
  stop?: number;
  [k: string]: unknown;
}

export interface LoadedResult {
  file: string;
  result: ResultFile;
}

/** Every parseable result file in `dir` (a half-written one from a killed process is skipped). */
export function loadResults(dir: string): LoadedResult[] {
  let names: string[];
  try {
    names = fs.readdirSync(dir);
  } catch {
    return [];
  }
  const out: LoadedResult[] = [];
  for (const n of names.filter((f) => f.endsWith("-result.json"))) {
    const file = path.join(dir, n);
    try {
      out.push({ file, result: JSON.parse(fs.readFileSync(file, "utf8")) as ResultFile });
    } catch {
      /* skipped: the reader that decides (allure-read.ts) counts results on its own */
    }
  }
  return out;
}

export function saveResult(r: LoadedResult): void {
  const tmp = `${r.file}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, JSON.stringify(r.result));
  fs.renameSync(tmp, r.file);
}

/** Adds `meta` (repeated labels, links) to every result in `dir`. */
export function decorateResults(dir: string, meta: ResultMeta): number {
  const all = loadResults(dir);
  for (const r of all) {
    applyMeta(r.result, meta);
    saveResult(r);
  }
  return all.length;
}

export const labelValues = (r: ResultFile, name: string): string[] => (r.labels ?? []).filter((l) => l.name === name).map((l) => l.value);
export const labelValue = (r: ResultFile, name: string): string | undefined => labelValues(r, name)[0];
