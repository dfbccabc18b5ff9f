// Run-level Allure files: environment (what was tested where), executor (who ran it, the build
// order the history trend follows, links back to the CI) and categories that keep "the patch
// broke something" apart from "the lab could not check", flaky checks and waived failures.
import fs from "node:fs";
import path from "node:path";
import { Status } from "allure-js-commons";
import type { Category, ExecutorInfo } from "allure-js-commons/sdk";
import { FileSystemWriter } from "allure-js-commons/sdk/reporter";
import { repoRoot } from "../core/paths.ts";
import { ciInfo, type Env } from "./ci-env.ts";

export interface RunInfo {
  runId: string;
  lab: string;
  batch: string;
  patches?: string[];
  /** Increasing number per run; Allure's history trend is labelled by it (default: the CI's run number). */
  buildOrder?: number;
  reportUrl?: string;
  /** More environment.properties entries. */
  extra?: Record<string, string>;
}

/**
 * How the report marks a result's message so categories can tell them apart (Allure matches
 * categories on status, message and flakiness only). Written by the report stage (stage.ts).
 */
export const MARK = {
  verdict: "Gate: ",
  waived: "WAIVED ",
  preExisting: "PRE-EXISTING ",
} as const;

// Java regexes, matched against the whole message.
const notMarked = (...marks: string[]) => `(?!${marks.map((m) => m.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")).join("|")}).*`;
const marked = (m: string) => `${m.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}.*`;

export const CATEGORIES: Category[] = [
  {
    name: "Gate decisions: not approved",
    description: "The patch was rejected or needs review. Open it for the reasons.",
    matchedStatuses: [Status.FAILED, Status.BROKEN],
    messageRegex: marked(MARK.verdict),
  },
  {
    name: "Patch regressions (product defects)",
    description: "A check passed in baseline and failed after the patch: the product is wrong. These reject the patch.",
    matchedStatuses: [Status.FAILED],
    messageRegex: notMarked(MARK.verdict, MARK.waived, MARK.preExisting),
  },
  {
    name: "Lab errors (broken)",
    description: "The lab or the harness could not run the check. Not a verdict on the patch: the gate leaves it undecided.",
    matchedStatuses: [Status.BROKEN],
    messageRegex: notMarked(MARK.verdict, MARK.waived),
  },
  {
    name: "Flaky (passed on retry)",
    description: "Failed, then passed when run again. Not a regression, but worth a look.",
    matchedStatuses: [Status.PASSED, Status.FAILED, Status.BROKEN],
    flaky: true,
  },
  {
    name: "Waived failures",
    description: "Failures a waiver in lab-config/waivers.yaml covers: shown with its reason, approver and expiry; they do not block.",
    matchedStatuses: [Status.FAILED, Status.BROKEN],
    messageRegex: marked(MARK.waived),
  },
  {
    name: "Pre-existing failures (not blocking)",
    description: "Failed in baseline too, before the patch was installed.",
    matchedStatuses: [Status.FAILED],
    messageRegex: marked(MARK.preExisting),
  },
];

/** Where a run keeps its Allure results (shared by every suite and lifecycle step of the run). */
export function resultsDirOf(runDir: string): string {
  return path.join(runDir, "allure-results");
}

export function writeCategories(resultsDir: string): void {
  fs.mkdirSync(resultsDir, { recursive: true });
  new FileSystemWriter({ resultsDir }).writeCategoriesDefinitions(CATEGORIES);
}

/** executor.json's content: the CI's (build number, links) when there is one, else patchlab's own. */
export function executorInfo(info: RunInfo, env: Env = process.env): ExecutorInfo {
  const ci = ciInfo(env)?.executor;
  const buildOrder = ci?.buildOrder ?? info.buildOrder;
  return {
    name: "patchlab",
    type: "patchlab",
    buildName: `${info.batch} on ${info.lab} (run ${info.runId})`,
    ...ci,
    reportName: `patchlab: ${info.batch}`,
    ...(buildOrder !== undefined ? { buildOrder } : {}),
    ...(env.PATCHLAB_REPORT_URL || info.reportUrl ? { reportUrl: env.PATCHLAB_REPORT_URL ?? info.reportUrl } : {}),
  };
}

/** The harness's own version: which rules decided is part of what was tested. */
function harnessVersion(): string {
  try {
    return (JSON.parse(fs.readFileSync(path.join(repoRoot, "package.json"), "utf8")) as { version?: string }).version ?? "unknown";
  } catch {
    return "unknown";
  }
}

/** environment.properties' entries: the run, and the CI's commit and links when there is one. */
export function environmentInfo(info: RunInfo, env: Env = process.env): Record<string, string> {
  return {
    batch: info.batch,
    lab: info.lab,
    run: info.runId,
    ...(info.patches ? { patches: info.patches.join(", ") } : {}),
    patchlab: harnessVersion(),
    ...ciInfo(env)?.environment,
    ...info.extra,
  };
}

/** Writes environment.properties, executor.json and categories.json into `<runDir>/allure-results`. */
export function writeAllureExtras(runDir: string, info: RunInfo, env: Env = process.env): void {
  const resultsDir = resultsDirOf(runDir);
  fs.mkdirSync(resultsDir, { recursive: true });
  new FileSystemWriter({ resultsDir }).writeEnvironmentInfo(environmentInfo(info, env));
  writeCategories(resultsDir);
  fs.writeFileSync(path.join(resultsDir, "executor.json"), JSON.stringify(executorInfo(info, env), null, 2) + "\n");
}

// Lifecycle steps are run-level Allure output too; exported here as well for callers that look for them here.
export { writeLifecycleResult, type LifecycleStep } from "./lifecycle.ts";
