// Runs one suite in its own mocha child process. A child (not mocha in-process) because every
// run needs fresh ESM modules, and a hung suite must be killable without killing the harness.
// Results go through allure-mocha (Allure results: the one result model, read back here) and
// mocha's xunit reporter as an allure-mocha extra reporter (JUnit for CI).
import { spawn } from "node:child_process";
import { randomUUID } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { LabError } from "../core/errors.ts";
import { readAllureOutcomes } from "../report/allure-read.ts";
import { writeAllureResult } from "../report/lifecycle.ts";
import { INVOCATION_LABEL, suiteLabels, suiteParameters, type ResultMeta } from "../report/labels.ts";
import { decorateResults } from "../report/result-files.ts";
import type { SuiteRunResult, TestOutcome } from "../report/outcome-model.ts";
import { repoRoot } from "../core/paths.ts";
import {
  SUITE_CONTEXT_ENV,
  SUITE_DONE_ENV,
  SUITE_PARAMETERS_ENV,
  SuiteContext,
  writeSuiteContext,
} from "./suite-context.ts";

export type { SuiteRunResult, TestOutcome } from "../report/outcome-model.ts";

const ROOT = repoRoot;
const MOCHA_BIN = path.join(ROOT, "node_modules/mocha/bin/mocha.js");
const HOOKS_FILE = path.join(ROOT, "suites/support/allure-hooks.ts");
/** Time a suite gets to exit after SIGTERM before SIGKILL. */
const KILL_GRACE_MS = 2000;
const OUTPUT_TAIL = 16_000;

export interface RunSuiteOptions {
  /** "roles/web" -> suites/roles/web.spec.ts; a path ending in .ts/.js (or absolute) is used as is. */
  suite: string;
  context: SuiteContext;
  /** allure-results directory shared by the whole run. */
  resultsDir: string;
  junitFile: string;
  /** Allure labels; override the defaults derived from the context (see report/labels.ts). */
  labels: Record<string, string>;
  /** Whole-suite deadline: the process is killed after it and the run reported crashed. */
  timeoutMs: number;
  /** Mocha's per-test timeout (default: 60 s, capped at timeoutMs). */
  testTimeoutMs?: number;
  /** Allure parameters on every test; default phase, machine and patch from the context. */
  parameters?: Record<string, string>;
  /** Where to append the suite process's stdout/stderr. */
  logFile?: string;
  /** Repeated labels (one feature per patch) and links (advisory, CVEs): see report/labels.ts runLabels(). */
  meta?: ResultMeta;
}

export function resolveSuiteSpec(suite: string): string {
  if (path.isAbsolute(suite) || /\.[cm]?[jt]s$/.test(suite)) return path.resolve(ROOT, suite);
  return path.join(ROOT, "suites", `${suite}.spec.ts`);
}

/** Short name for labels and results: "roles/web" -> "web". */
export function suiteName(suite: string): string {
  return path.basename(suite).replace(/(\.spec)?\.[cm]?[jt]s$/, "");
}

export async function runSuite(opts: RunSuiteOptions): Promise<SuiteRunResult> {
  const name = suiteName(opts.suite);
  const spec = resolveSuiteSpec(opts.suite);
  const context = SuiteContext.safeParse(opts.context);
  if (!context.success) {
    throw new LabError("harness", `suite ${opts.suite}: invalid suite context: ${context.error.message}`, "this is a patchlab bug: the orchestrator built a context that does not match harness/run/suite-context.ts");
  }
  const labels = { ...suiteLabels(context.data, name), ...opts.labels };
  for (const k of Object.keys(labels)) {
    if (!/^[A-Za-z][A-Za-z0-9_]*$/.test(k)) {
      throw new LabError("harness", `suite ${opts.suite}: label name "${k}" is not usable`, "label names are passed as ALLURE_LABEL_<name> env vars: use letters, digits and '_'");
    }
  }
  const invocation = randomUUID();
  const parameters = opts.parameters ?? suiteParameters(context.data);
  // A crash goes into the report as a broken result too: a crash seen only on a console is lost.
  const reportCrash = (problem: string, tests: TestOutcome[], start: number): SuiteRunResult => {
    writeAllureResult(opts.resultsDir, {
      name: `${name} suite did not finish`,
      fullName: `patchlab:${path.relative(ROOT, spec)}: suite run`,
      status: "broken",
      message: problem,
      start,
      stop: Date.now(),
      labels: { ...labels, [INVOCATION_LABEL]: invocation },
      ...(opts.meta ? { meta: opts.meta } : {}),
      parameters,
    });
    return { suite: name, tests, crashed: true, detail: problem };
  };
  if (!fs.existsSync(spec)) {
    return reportCrash(`no spec file ${path.relative(ROOT, spec)} for suite ${opts.suite}`, [], Date.now());
  }

  const work = fs.mkdtempSync(path.join(os.tmpdir(), "patchlab-suite-"));
  try {
    // Each invocation writes into its own staging dir, moved into the shared resultsDir
    // afterwards: hook errors (globals files) carry no label, so only a private dir
    // attributes them to this run.
    const staging = path.join(work, "allure-results");
    const doneFile = path.join(work, "done");
    const rc = path.join(work, "mocharc.json");
    fs.mkdirSync(path.dirname(opts.junitFile), { recursive: true });
    fs.rmSync(opts.junitFile, { force: true }); // a stale file from an earlier run must not pass for this one
    fs.writeFileSync(
      rc,
      JSON.stringify({
        reporter: "allure-mocha",
        "reporter-option": {
          resultsDir: staging,
          extraReporters: [["xunit", { output: path.resolve(opts.junitFile), suiteName: `${labels.parentSuite ?? ""} ${name} ${labels.machine ?? ""}`.trim() }]],
        },
        require: [HOOKS_FILE],
        timeout: Math.min(opts.testTimeoutMs ?? 60_000, opts.timeoutMs),
        exit: true, // a leftover socket (dockerode keep-alive) must not keep a finished suite alive
        color: false,
      }),
    );
    const env = childEnv(labels, invocation, {
      [SUITE_CONTEXT_ENV]: writeSuiteContext(path.join(work, "context.json"), context.data),
      [SUITE_PARAMETERS_ENV]: JSON.stringify(parameters),
      [SUITE_DONE_ENV]: doneFile,
    });
    const started = Date.now();
    const exit = await runChild([process.execPath, "--import", "tsx", MOCHA_BIN, "--config", rc, spec], env, opts);

    const tests = readAllureOutcomes(staging, { [INVOCATION_LABEL]: invocation });
    if (opts.meta) decorateResults(staging, opts.meta);
    moveInto(staging, opts.resultsDir);
    const problem = crashReason(exit, fs.existsSync(doneFile), tests.length, opts.timeoutMs);
    if (!problem) return { suite: name, tests, crashed: false, detail: countText(tests) };
    return reportCrash(problem, tests, started);
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
}

/** Why this run's results cannot be trusted as complete, or undefined when they can. */
function crashReason(exit: ChildExit, done: boolean, results: number, timeoutMs: number): string | undefined {
  const tail = exit.output.trim() ? `; output: ${exit.output.trim().slice(-1500)}` : "";
  if (exit.spawnError) return `could not start the suite process: ${exit.spawnError}`;
  if (exit.timedOut) return `killed after ${timeoutMs} ms: the suite did not finish in time (${results} results written before the kill)`;
  if (exit.signal) return `suite process killed by ${exit.signal}${tail}`;
  if (!done) return `suite process exited (code ${exit.code}) before mocha finished${tail}`;
  if (results === 0) return `suite wrote no result (exit code ${exit.code})${tail}`;
  return undefined;
}

function countText(tests: TestOutcome[]): string {
  const n = (s: string) => tests.filter((t) => t.status === s).length;
  return `${tests.length} tests: ${n("passed")} passed, ${n("failed")} failed, ${n("broken")} broken, ${n("skipped")} skipped`;
}

/** Labels travel as ALLURE_LABEL_* (applied before allure-mocha picks default suite labels). */
function childEnv(labels: Record<string, string>, invocation: string, extra: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  // Inherited Allure settings (a test plan, labels of an outer run) would silently change this run.
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith("ALLURE_")) env[k] = v;
  for (const [k, v] of Object.entries(labels)) {
    // allure-js-commons reads host and thread from their own variables, not ALLURE_LABEL_*.
    if (k === "host") env.ALLURE_HOST_NAME = v;
    else if (k === "thread") env.ALLURE_THREAD_NAME = v;
    else env[`ALLURE_LABEL_${k}`] = v;
  }
  env[`ALLURE_LABEL_${INVOCATION_LABEL}`] = invocation;
  return { ...env, ...extra };
}

/** Kill functions of the suite processes still running. */
const running = new Set<() => void>();
let exitHookInstalled = false;

/**
 * Kills every suite process this harness started and that still runs. Suites run in their own
 * process group (so a timeout kill reaches all they started), which also means a Ctrl-C on the
 * harness does not reach them: the CLI calls this from its signal handlers. Runs on exit too.
 */
export function killRunningSuites(): void {
  for (const kill of running) kill();
}

interface ChildExit {
  code: number | null;
  signal: NodeJS.Signals | null;
  timedOut: boolean;
  spawnError?: string;
  output: string;
}

function runChild(argv: string[], env: NodeJS.ProcessEnv, opts: RunSuiteOptions): Promise<ChildExit> {
  const [cmd, ...args] = argv as [string, ...string[]];
  let log: number | undefined;
  if (opts.logFile) {
    fs.mkdirSync(path.dirname(opts.logFile), { recursive: true });
    log = fs.openSync(opts.logFile, "a");
  }
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    process.once("exit", killRunningSuites); // never leave a suite running behind a dead harness
  }
  return new Promise((resolve) => {
    // Own process group, so a kill reaches anything the suite started too.
    const child = spawn(cmd, args, { cwd: ROOT, env, detached: true, stdio: ["ignore", "pipe", "pipe"] });
    let output = "";
    let timedOut = false;
    let spawnError: string | undefined;
    const onData = (b: Buffer) => {
      output = (output + b.toString("utf8")).slice(-OUTPUT_TAIL);
      if (log !== undefined) fs.writeSync(log, b);
    };
    child.stdout.on("data", onData);
    child.stderr.on("data", onData);
    const killGroup = (signal: NodeJS.Signals) => {
      if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
      try {
        process.kill(-child.pid, signal);
      } catch {
        /* already gone */
      }
    };
    const killNow = () => killGroup("SIGKILL");
    running.add(killNow);
    let killTimer: NodeJS.Timeout | undefined;
    const deadline = setTimeout(() => {
      timedOut = true;
      killGroup("SIGTERM");
      killTimer = setTimeout(() => killGroup("SIGKILL"), KILL_GRACE_MS);
    }, opts.timeoutMs);
    let finished = false;
    const finish = (code: number | null, signal: NodeJS.Signals | null) => {
      if (finished) return;
      finished = true;
      clearTimeout(deadline);
      clearTimeout(killTimer);
      running.delete(killNow);
      if (log !== undefined) fs.closeSync(log);
      resolve({ code, signal, timedOut, output, ...(spawnError ? { spawnError } : {}) });
    };
    child.on("error", (e) => {
      spawnError = e.message;
      if (child.pid === undefined) finish(null, null); // never started: no "close" will follow
    });
    child.on("close", finish);
  });
}

/** Moves result files; copy + delete across file systems (tmp is often another one). */
function moveInto(from: string, to: string): void {
  if (!fs.existsSync(from)) return;
  fs.mkdirSync(to, { recursive: true });
  for (const f of fs.readdirSync(from)) {
    const src = path.join(from, f);
    const dst = path.join(to, f);
    try {
      fs.renameSync(src, dst);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "EXDEV") throw e;
      fs.copyFileSync(src, dst);
      fs.rmSync(src);
    }
  }
}
