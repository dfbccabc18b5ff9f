// runSuite with warm suite processes: the same contract and results as mocha-runner.ts's
// runSuite (one suite per process, fresh modules, killed with its process group on timeout,
// Allure + JUnit results, a crash reported as a broken result), without paying the process's
// start-up (node + tsx + mocha + Allure + the support modules: about 1.4 s on 2 busy cores) on
// the critical path. A pool keeps `size` processes started ahead of need (suite-worker-child.ts
// loads all that and then waits for its job); a suite's replacement starts when that suite's
// process has exited, so it warms up while the machine installs, uninstalls or restores, not
// while the suite runs: on 2 cores a warm-up beside a running suite slowed its checks by half.
//
// `patchlab run` uses it (orchestrator.ts runBatch: a pool of the run's concurrency, bundled,
// made right after requireEngine() so the first processes warm up during lab-up, closed with the
// lab lock; PATCHLAB_SUITE_WORKERS=off for a mocha CLI child per suite). The CLI's signal
// handlers call killAllSuiteWorkers() beside killRunningSuites().
import { spawn, type ChildProcess } from "node:child_process";
import { createHash } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import * as esbuild from "esbuild";
import { LabError } from "../core/errors.ts";
import { repoRoot } from "../core/paths.ts";
import type { SuiteRunResult } from "../report/outcome-model.ts";
import { runSuite, suiteName, type ChildExit, type RunSuiteOptions, type SuiteLauncher } from "./mocha-runner.ts";
import type { SuiteJob } from "./suite-worker-child.ts";

const CHILD = path.join(repoRoot, "harness/run/suite-worker-child.ts");
const HOOKS_FILE = path.join(repoRoot, "suites/support/allure-hooks.ts");
const SUPPORT_DIR = path.join(repoRoot, "suites/support");
const BUNDLE_DIR = path.join(repoRoot, ".build", "suites");
const KILL_GRACE_MS = 2000;
/** Packages a spare does not preload (see spareArgv). */
const PRELOAD_SKIP = /^(playwright|playwright-core)(\/|$)/;
const OUTPUT_TAIL = 16_000;

/** A suite process started ahead of need; its output is kept from the start (a failed warm-up explains itself). */
class Spare {
  readonly child: ChildProcess;
  output = "";
  private sinks: ((b: Buffer) => void)[] = [];
  readonly closed: Promise<{ code: number | null; signal: NodeJS.Signals | null; spawnError?: string }>;

  constructor(env: NodeJS.ProcessEnv, argv: string[]) {
    // Own process group (detached), so a kill reaches anything the suite started too.
    this.child = spawn(process.execPath, argv, { cwd: repoRoot, env, detached: true, stdio: ["pipe", "pipe", "pipe"] });
    const onData = (b: Buffer) => {
      this.output = (this.output + b.toString("utf8")).slice(-OUTPUT_TAIL);
      for (const s of this.sinks) s(b);
    };
    this.child.stdout!.on("data", onData);
    this.child.stderr!.on("data", onData);
    this.child.stdin!.on("error", () => undefined); // a child that died before its job: its exit says why
    this.closed = new Promise((resolve) => {
      let spawnError: string | undefined;
      this.child.on("error", (e) => {
        spawnError = e.message;
        if (this.child.pid === undefined) resolve({ code: null, signal: null, spawnError });
      });
      this.child.on("close", (code, signal) => resolve({ code, signal, ...(spawnError ? { spawnError } : {}) }));
    });
    // Waiting idle holds no event loop of ours open.
    this.child.unref();
  }

  get alive(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null && this.child.pid !== undefined;
  }

  onOutput(sink: (b: Buffer) => void): void {
    this.sinks.push(sink);
  }

  killGroup(signal: NodeJS.Signals): void {
    if (!this.alive) return;
    try {
      process.kill(-this.child.pid!, signal);
    } catch {
      /* already gone */
    }
  }
}

/** Every pool of this process, for the exit and signal handlers. */
const pools = new Set<SuiteWorkerPool>();
let exitHookInstalled = false;

/** Kills every suite process of every pool, running or idle (the CLI's signal handlers call it). */
export function killAllSuiteWorkers(): void {
  for (const p of pools) p.close();
}

export class SuiteWorkerPool {
  private idle: Spare[] = [];
  private running = new Set<Spare>();
  private closed = false;
  private readonly size: number;
  private readonly env: NodeJS.ProcessEnv;
  private readonly argv: string[];
  private readonly bundler: Bundler | undefined;

  /**
   * size: processes kept ready (the run's concurrency). bundle: suites are bundled with esbuild
   * (spec, support and harness code in one file, packages from node_modules) and the processes
   * run plain node without tsx: a cheaper start (about half the time and two thirds the memory);
   * results name the spec file as before.
   */
  constructor(opts: { size?: number; bundle?: boolean } = {}) {
    this.size = Math.max(0, opts.size ?? 1);
    if (opts.bundle) {
      this.bundler = new Bundler();
      this.argv = [this.bundler.bundleSync(CHILD, "worker")];
    } else {
      this.argv = ["--import", "tsx", CHILD, SUPPORT_DIR];
    }
    // Inherited Allure settings (a test plan, labels of an outer run) would silently change this run.
    this.env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith("ALLURE_")));
    pools.add(this);
    if (!exitHookInstalled) {
      exitHookInstalled = true;
      process.once("exit", killAllSuiteWorkers); // never leave a suite process behind a dead harness
    }
    this.topUp();
  }

  /**
   * A spare's command line. Bundles keep packages external, so a bundled suite would import them
   * (dockerode alone: 0.2 s on 2 cores) on the critical path: a spare preloads the packages the
   * suites bundled so far imported, except the browser's (PRELOAD_SKIP), which only the browser
   * suites need and which would cost every spare 0.7 s and 90 MB.
   */
  private spareArgv(): string[] {
    const pkgs = [...(this.bundler?.externals ?? [])].filter((x) => !PRELOAD_SKIP.test(x)).sort();
    return pkgs.length ? [...this.argv, "", ...pkgs] : this.argv;
  }

  /** Idle processes to have ready: at start, and refilled whenever a suite's process has exited. */
  private topUp(): void {
    while (!this.closed && this.idle.length < this.size) this.idle.push(new Spare(this.env, this.spareArgv()));
  }

  private take(): Spare {
    // A spare that died while waiting (it could not load) is replaced: its job would only crash.
    this.idle = this.idle.filter((s) => s.alive || (s.killGroup("SIGKILL"), false));
    const spare = this.idle.shift() ?? new Spare(this.env, this.spareArgv());
    this.running.add(spare);
    return spare;
  }

  /** Stops the idle processes and kills the running ones; later runSuite calls start cold processes. */
  close(): void {
    this.closed = true;
    for (const s of [...this.idle, ...this.running]) s.killGroup("SIGKILL");
    this.idle = [];
    pools.delete(this);
    // Its processes are gone: so can its bundles.
    for (const d of this.bundler?.dirs ?? []) fs.rmSync(d, { recursive: true, force: true });
  }

  /**
   * mocha-runner.ts's runSuite itself (context checks, retries, crash reports, Allure and JUnit
   * results), with each attempt's suite process taken from this pool instead of a mocha CLI child.
   */
  runSuite = (opts: RunSuiteOptions): Promise<SuiteRunResult> => runSuite({ ...opts, launcher: this.launch });

  /** The launcher for mocha-runner.ts runSuite({ ..., launcher }): what the orchestrator would pass. */
  readonly launch: SuiteLauncher = async ({ spec, mocharc, env }, opts) => {
    const name = suiteName(spec);
    const hooks = mocharc.require[0] ?? HOOKS_FILE;
    // Only what differs from the env the spare started with (labels, context file, parameters, done file).
    const delta: Record<string, string> = {};
    for (const [k, v] of Object.entries(env)) if (v !== undefined && this.env[k] !== v) delta[k] = v;
    const job: SuiteJob = {
      spec: this.bundler ? await this.bundler.bundle(spec, name) : spec,
      specFile: spec,
      env: delta,
      hooksFile: this.bundler ? await this.bundler.bundle(hooks, "hooks") : hooks,
      timeoutMs: mocharc.timeout,
      reporterOptions: mocharc["reporter-option"],
      ...(mocharc.grep !== undefined ? { grep: mocharc.grep } : {}),
    };
    return this.runJob(job, opts);
  };

  private async runJob(job: SuiteJob, opts: RunSuiteOptions): Promise<ChildExit> {
    const spare = this.take();
    let log: number | undefined;
    if (opts.logFile) {
      fs.mkdirSync(path.dirname(opts.logFile), { recursive: true });
      log = fs.openSync(opts.logFile, "a");
      if (spare.output) fs.writeSync(log, spare.output); // what it printed while warming up
      spare.onOutput((b) => fs.writeSync(log!, b));
    }
    spare.child.stdin!.end(JSON.stringify(job) + "\n");
    let timedOut = false;
    let killTimer: NodeJS.Timeout | undefined;
    const deadline = setTimeout(() => {
      timedOut = true;
      spare.killGroup("SIGTERM");
      killTimer = setTimeout(() => spare.killGroup("SIGKILL"), KILL_GRACE_MS);
    }, opts.timeoutMs);
    try {
      const r = await spare.closed;
      return { ...r, timedOut, output: spare.output };
    } finally {
      clearTimeout(deadline);
      clearTimeout(killTimer);
      this.running.delete(spare);
      if (log !== undefined) fs.closeSync(log);
      this.topUp(); // its replacement: now that the suite is done, not beside it
    }
  }
}

/**
 * esbuild bundles of suite files, rebuilt when any of their inputs changed (checked on every use:
 * a suite edited mid-run is picked up, never a stale bundle). Packages stay external.
 */
class Bundler {
  private cache = new Map<string, { out: string; inputs: [string, number][] }>();
  readonly dirs = new Set<string>();
  /** Packages (bare imports, not node: builtins) the suites bundled so far import. */
  readonly externals = new Set<string>();

  private fresh(entry: string): string | undefined {
    const hit = this.cache.get(entry);
    return hit && hit.inputs.every(([f, t]) => fs.statSync(f, { throwIfNoEntry: false })?.mtimeMs === t) ? hit.out : undefined;
  }

  private options(entry: string, name: string): esbuild.BuildOptions & { outfile: string } {
    const tag = createHash("sha1").update(entry).digest("hex").slice(0, 8);
    const dir = path.join(BUNDLE_DIR, `${process.pid}-${Date.now()}`);
    this.dirs.add(dir);
    const outfile = path.join(dir, `${name}-${tag}.mjs`);
    return {
      entryPoints: [entry], outfile, bundle: true, format: "esm", platform: "node", target: "node20", packages: "external", sourcemap: "inline", metafile: true, logLevel: "silent", absWorkingDir: repoRoot,
      // An import by file: URL is a file of ours too (tsx loads it; plain node could not).
      plugins: [{ name: "file-urls", setup: (b) => b.onResolve({ filter: /^file:/ }, (a) => ({ path: fileURLToPath(a.path) })) }],
    };
  }

  private remember(entry: string, outfile: string, inputs: Record<string, unknown>): string {
    this.cache.set(entry, { out: outfile, inputs: Object.keys(inputs).map((f) => { const abs = path.resolve(repoRoot, f); return [abs, fs.statSync(abs).mtimeMs] as [string, number]; }) });
    return outfile;
  }

  bundleSync(entry: string, name: string): string {
    const hit = this.fresh(entry);
    if (hit) return hit;
    const { plugins: _, ...o } = this.options(entry, name); // the worker itself imports no file: URL
    const r = esbuild.buildSync(o);
    return this.remember(entry, o.outfile, r.metafile!.inputs);
  }

  async bundle(entry: string, name: string): Promise<string> {
    const hit = this.fresh(entry);
    if (hit) return hit;
    const o = this.options(entry, name);
    try {
      const r = await esbuild.build(o);
      for (const out of Object.values(r.metafile!.outputs)) {
        for (const i of out.imports) if (i.external && !i.path.startsWith("node:") && !i.path.startsWith(".") && !path.isAbsolute(i.path)) this.externals.add(i.path);
      }
      return this.remember(entry, o.outfile, r.metafile!.inputs);
    } catch (e) {
      // A spec that does not compile crashes its run with the compiler's words, as tsx would.
      throw new LabError("harness", `suite ${path.relative(repoRoot, entry)} does not compile: ${(e as Error).message.slice(0, 1500)}`, "fix the suite file");
    }
  }
}
