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
import { ATTEMPT_PARAMETER, type SuiteRunResult, type TestOutcome } from "../report/outcome-model.ts";
import { repoRoot } from "../core/paths.ts";
import {
  SUITE_CONTEXT_ENV,
  SUITE_DONE_ENV,
  SUITE_PARAMETERS_ENV,
  SUITE_SHOWN_PARAMETERS_ENV,
  SuiteContext,
  type SuiteContextInput,
  writeSuiteContext,
} from "./suite-context.ts";
import { writeSuiteJunit } from "./suite-junit.ts";
import { suitesRoot } from "./suites-for.ts";

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
  context: SuiteContextInput;
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
  /** How many times a failed or broken check is run again before it is recorded (default 1). */
  retries?: number;
  /** Repeated labels (one feature per patch) and links (advisory, CVEs): see report/labels.ts runLabels(). */
  meta?: ResultMeta;
  /** Starts an attempt's suite process; default: a mocha CLI child (the warm worker, suite-worker.ts, is another). */
  launcher?: SuiteLauncher;
}

/** Mocha's options for one attempt: written as the CLI's .mocharc, or handed to a warm worker. */
export interface MochaRc {
  reporter: "allure-mocha";
  "reporter-option": { resultsDir: string; extraReporters: unknown[] };
  require: string[];
  timeout: number;
  exit: true;
  color: false;
  grep?: string;
}

/** One attempt's suite process: mocha over `spec` with `mocharc`, in `env`; resolves when it has exited. */
export type SuiteLauncher = (launch: { spec: string; mocharc: MochaRc; env: NodeJS.ProcessEnv }, opts: RunSuiteOptions) => Promise<ChildExit>;

export function resolveSuiteSpec(suite: string): string {
  if (path.isAbsolute(suite) || /\.[cm]?[jt]s$/.test(suite)) return path.resolve(ROOT, suite);
  return path.join(suitesRoot(), `${suite}.spec.ts`);
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
  const parameters = opts.parameters ?? suiteParameters(context.data);
  // A crash goes into the report as a broken result too: a crash seen only on a console is lost.
  const reportCrash = (problem: string, tests: TestOutcome[], start: number, invocation: string): SuiteRunResult => {
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
    return reportCrash(`no spec file ${path.relative(ROOT, spec)} for suite ${opts.suite}`, [], Date.now(), randomUUID());
  }

  const work = fs.mkdtempSync(path.join(os.tmpdir(), "patchlab-suite-"));
  try {
    const attempt = (n: number, grep: string | undefined, junitFile: string) =>
      runAttempt({ opts, spec, name, labels, parameters, context: context.data, work: path.join(work, `attempt-${n}`), attempt: n, grep, junitFile });
    const first = await attempt(1, undefined, opts.junitFile);
    if (first.problem) {
      moveInto(first.staging, opts.resultsDir);
      return reportCrash(first.problem, first.tests, first.started, first.invocation);
    }
    const plan = retryPlan(first.tests);
    if (!plan || (opts.retries ?? 1) < 1) {
      moveInto(first.staging, opts.resultsDir);
      return { suite: name, tests: first.tests, crashed: false, detail: countText(first.tests) };
    }
    // Retry once what failed or was broken: a check is only recorded after its second try.
    const second = await attempt(2, plan.grep, path.join(work, "retry-junit.xml"));
    const tests = mergeAttempts(first.tests, second.tests, plan);
    markFlakyInAllure(first.staging, second.staging);
    moveInto(first.staging, opts.resultsDir);
    moveInto(second.staging, opts.resultsDir);
    writeSuiteJunit(opts.junitFile, `${labels.parentSuite ?? ""} ${name} ${labels.machine ?? ""}`.trim(), tests);
    if (second.problem) return reportCrash(`on retry: ${second.problem}`, tests, second.started, second.invocation);
    return { suite: name, tests, crashed: false, detail: `${countText(tests)} (${plan.names.length} retried)` };
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
}

interface AttemptInput {
  opts: RunSuiteOptions;
  spec: string;
  name: string;
  labels: Record<string, string>;
  parameters: Record<string, string>;
  context: SuiteContext;
  work: string;
  attempt: number;
  /** Mocha --grep: only the checks to retry; undefined runs the whole suite. */
  grep: string | undefined;
  junitFile: string;
}

interface AttemptResult {
  tests: TestOutcome[];
  /** Why the results cannot be trusted as complete; undefined when they can. */
  problem: string | undefined;
  staging: string;
  invocation: string;
  started: number;
}

/** One mocha child process over the spec (or the grepped part of it). */
async function runAttempt(a: AttemptInput): Promise<AttemptResult> {
  const { opts } = a;
  fs.mkdirSync(a.work, { recursive: true });
  const invocation = randomUUID();
  // Each invocation writes into its own staging dir, moved into the shared resultsDir
  // afterwards: hook errors (globals files) carry no label, so only a private dir
  // attributes them to this run.
  const staging = path.join(a.work, "allure-results");
  const doneFile = path.join(a.work, "done");
  const rc = path.join(a.work, "mocharc.json");
  fs.mkdirSync(path.dirname(a.junitFile), { recursive: true });
  fs.rmSync(a.junitFile, { force: true }); // a stale file from an earlier run must not pass for this one
  const mocharc: MochaRc = {
    reporter: "allure-mocha",
    "reporter-option": {
      resultsDir: staging,
      extraReporters: [["xunit", { output: path.resolve(a.junitFile), suiteName: `${a.labels.parentSuite ?? ""} ${a.name} ${a.labels.machine ?? ""}`.trim() }]],
    },
    require: [HOOKS_FILE],
    timeout: Math.min(opts.testTimeoutMs ?? 60_000, opts.timeoutMs),
    exit: true, // a leftover socket (dockerode keep-alive) must not keep a finished suite alive
    color: false,
    ...(a.grep !== undefined ? { grep: a.grep } : {}),
  };
  const env = childEnv(a.labels, invocation, {
    [SUITE_CONTEXT_ENV]: writeSuiteContext(path.join(a.work, "context.json"), a.context),
    [SUITE_PARAMETERS_ENV]: JSON.stringify(a.parameters),
    [SUITE_SHOWN_PARAMETERS_ENV]: JSON.stringify(a.attempt > 1 ? { [ATTEMPT_PARAMETER]: String(a.attempt) } : {}),
    [SUITE_DONE_ENV]: doneFile,
  });
  const started = Date.now();
  const exit = opts.launcher
    ? await opts.launcher({ spec: a.spec, mocharc, env }, opts)
    : (fs.writeFileSync(rc, JSON.stringify(mocharc)), await runChild([process.execPath, "--import", "tsx", MOCHA_BIN, "--config", rc, a.spec], env, opts));
  const tests = foldRetries(readAllureOutcomes(staging, { [INVOCATION_LABEL]: invocation }));
  if (opts.meta) decorateResults(staging, opts.meta);
  return { tests, problem: crashReason(exit, fs.existsSync(doneFile), tests.length, opts.timeoutMs), staging, invocation, started };
}

/**
 * A check mocha retried in-process (`this.retries(n)`) has one Allure result per try, oldest
 * first: one outcome per check, the last try's, with the earlier ones as its attempts.
 */
export function foldRetries(tests: TestOutcome[]): TestOutcome[] {
  const byName = new Map<string, TestOutcome[]>();
  for (const t of tests) (byName.get(t.name) ?? byName.set(t.name, []).get(t.name)!).push(t);
  return [...byName.values()].map((tries) => {
    const final = tries[tries.length - 1]!;
    if (tries.length === 1) return final;
    const earlier = tries.slice(0, -1).map((t) => ({ status: t.status, ...(t.message ? { message: t.message } : {}), durationMs: t.durationMs }));
    return { ...final, attempts: [...earlier, ...(final.attempts ?? [])] };
  });
}

interface RetryPlan {
  /** Outcome names retried. */
  names: string[];
  /** Mocha --grep for them; undefined: a hook failed, so the whole suite runs again. */
  grep: string | undefined;
}

const NOT_PASSED = new Set(["failed", "broken"]);
/** Names readAllureOutcomes gives hook errors (not checks: their tests never ran). */
const isHookOutcome = (t: TestOutcome) => /^"(before|after) (all|each)" hook/.test(t.name) || t.name === "hook";

/** What to run again after a first attempt, or undefined when every check passed (or was skipped). */
export function retryPlan(tests: TestOutcome[]): RetryPlan | undefined {
  // A check mocha already retried in-process (this.retries) has one result per try, oldest
  // first: only its last one counts.
  const last = new Map(tests.map((t) => [t.name, t]));
  const bad = [...last.values()].filter((t) => NOT_PASSED.has(t.status));
  if (bad.length === 0) return undefined;
  const names = bad.map((t) => t.name);
  if (bad.some(isHookOutcome)) return { names, grep: undefined };
  // Mocha greps a test's fullTitle(): its titles joined with spaces.
  const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&");
  return { names, grep: `^(?:${names.map((n) => escape(n.split(" > ").join(" "))).join("|")})$` };
}

/**
 * The recorded outcomes: a retried check's final status is its second try's, with the first
 * in `attempts`; checks that passed the first time keep that result. Checks seen only in a
 * whole-suite retry (their hook failed the first time) carry the hook's failure as attempt 1.
 */
export function mergeAttempts(first: TestOutcome[], second: TestOutcome[], plan: RetryPlan): TestOutcome[] {
  const retried = new Set(plan.names);
  const secondByName = new Map(second.map((t) => [t.name, t]));
  const hookFailure = first.find((t) => isHookOutcome(t) && NOT_PASSED.has(t.status));
  const attemptOf = (t: TestOutcome) => ({ status: t.status, ...(t.message ? { message: t.message } : {}), durationMs: t.durationMs });
  const out: TestOutcome[] = [];
  const seen = new Set<string>();
  for (const t of first) {
    seen.add(t.name);
    const again = secondByName.get(t.name);
    if (!retried.has(t.name)) out.push(t);
    else if (again) out.push({ ...again, attempts: [...(t.attempts ?? []), attemptOf(t)] });
    else if (isHookOutcome(t)) continue; // the hook passed on the retry: its checks below say so
    else out.push({ ...t, message: `${t.message ?? ""}${t.message ? " " : ""}(no result on retry)` });
  }
  for (const t of second) {
    if (seen.has(t.name)) continue;
    out.push(hookFailure && !isHookOutcome(t) ? { ...t, attempts: [attemptOf(hookFailure)] } : t);
  }
  return out;
}

/**
 * Allure groups results with one history id as retries of one test; a retry that passed
 * after a failed or broken first try is marked flaky, which the report shows as such.
 */
function markFlakyInAllure(firstDir: string, secondDir: string): void {
  const statuses = new Map<string, string>();
  for (const r of allureResults(firstDir)) if (r.data.historyId) statuses.set(r.data.historyId, r.data.status ?? "broken");
  for (const r of allureResults(secondDir)) {
    const before = r.data.historyId ? statuses.get(r.data.historyId) : undefined;
    if (r.data.status !== "passed" || !before || !NOT_PASSED.has(before)) continue;
    r.data.statusDetails = { ...(r.data.statusDetails ?? {}), flaky: true, message: `flaky: ${before} on the first try, passed on the retry` };
    fs.writeFileSync(r.file, JSON.stringify(r.data));
  }
}

interface AllureResultJson {
  historyId?: string;
  status?: string;
  statusDetails?: Record<string, unknown>;
}

function allureResults(dir: string): { file: string; data: AllureResultJson }[] {
  let files: string[];
  try {
    files = fs.readdirSync(dir).filter((f) => f.endsWith("-result.json"));
  } catch {
    return [];
  }
  return files.flatMap((f) => {
    try {
      return [{ file: path.join(dir, f), data: JSON.parse(fs.readFileSync(path.join(dir, f), "utf8")) as AllureResultJson }];
    } catch {
      return [];
    }
  });
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

export interface ChildExit {
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
