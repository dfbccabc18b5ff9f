// Run-level Allure files: environment (what was tested where), executor (names the run and
// orders history), and categories that keep "the patch broke something" apart from "the lab
// could not check" in the report's Categories tab.
import fs from "node:fs";
import path from "node:path";
import { Status } from "allure-js-commons";
import type { Category, ExecutorInfo } from "allure-js-commons/sdk";
import { FileSystemWriter } from "allure-js-commons/sdk/reporter";

export interface RunInfo {
  runId: string;
  lab: string;
  batch: string;
  patches?: string[];
  /** Increasing number per run; Allure's history trend is ordered by it. */
  buildOrder?: number;
  reportUrl?: string;
  /** More environment.properties entries. */
  extra?: Record<string, string>;
}

export const CATEGORIES: Category[] = [
  {
    name: "Product defects (patch regressions)",
    description: "A check's assertion failed: the product is wrong. Compare with the baseline phase to tell a regression from a pre-existing failure.",
    matchedStatuses: [Status.FAILED],
  },
  {
    name: "Lab/harness problems (broken)",
    description: "The lab or the harness could not run the check. Not a verdict on the patch: the gate leaves it undecided.",
    matchedStatuses: [Status.BROKEN],
  },
];

/** Where a run keeps its Allure results (shared by every suite and lifecycle step of the run). */
export function resultsDirOf(runDir: string): string {
  return path.join(runDir, "allure-results");
}

/** Writes environment.properties, executor.json and categories.json into `<runDir>/allure-results`. */
export function writeAllureExtras(runDir: string, info: RunInfo): void {
  const resultsDir = resultsDirOf(runDir);
  fs.mkdirSync(resultsDir, { recursive: true });
  const writer = new FileSystemWriter({ resultsDir });
  writer.writeEnvironmentInfo({
    lab: info.lab,
    run: info.runId,
    batch: info.batch,
    ...(info.patches ? { patches: info.patches.join(", ") } : {}),
    ...info.extra,
  });
  writer.writeCategoriesDefinitions(CATEGORIES);
  const executor: ExecutorInfo = {
    name: "patchlab",
    type: "patchlab",
    buildName: `${info.batch} on ${info.lab} (run ${info.runId})`,
    reportName: `patchlab: ${info.batch}`,
    ...(info.buildOrder !== undefined ? { buildOrder: info.buildOrder } : {}),
    ...(info.reportUrl ? { reportUrl: info.reportUrl } : {}),
  };
  fs.writeFileSync(path.join(resultsDir, "executor.json"), JSON.stringify(executor, null, 2) + "\n");
}

// Lifecycle steps are run-level Allure output too; exported here as well for callers that look for them here.
export { writeLifecycleResult, type LifecycleStep } from "./lifecycle.ts";
