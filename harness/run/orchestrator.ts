// `patchlab run <batch>`: load and check every input (bad input stops here, before anything
// is created, and still writes gate.json), make sure the lab is up, run every target
// machine's pipeline in parallel, then gate and report. Results are written as they happen;
// the lab is always left restored; every run ends with a gate.json and the gate's exit code.
import fs from "node:fs";
import path from "node:path";
import { checkLabFitsHost, loadBatch, type LoadedBatch } from "../config/loader.ts";
import { networkName } from "../lab/addressing.ts";
import { ConfigErrors, ConfigError, asPatchlabError, LabError, type PatchlabError } from "../core/errors.ts";
import { RunLogs, say } from "../core/log.ts";
import { scrubTree } from "../core/secrets.ts";
import { reportsRoot } from "../core/paths.ts";
import { docker as engine, requireEngine } from "../lab/drivers/docker-engine.ts";
import { DockerDriver } from "../lab/drivers/docker-driver.ts";
import { acquireLabLock } from "../lab/lock.ts";
import { reap } from "../lab/reaper.ts";
import type { MachineHandle } from "../lab/types.ts";
import type { PatchArtifact } from "../patch/types.ts";
import { noTargetReason, prepareArtifacts, provisionerFor, targetsFor, type KindContext } from "../patch/registry.ts";
import { decide, type ConfigProblem, type Decision, type GateInput } from "../gate/gate.ts";
import { loadWaivers, type LoadedWaivers } from "../gate/load-waivers.ts";
import { runSuite } from "./mocha-runner.ts";
import { Journal } from "./journal.ts";
import { runMachinePipeline, suitesFor, type StepRecord, type SuiteRecord } from "./machine-pipeline.ts";
import { newRunId } from "./run-id.ts";
import { writeBadInputReport, writeRunReport } from "./finish.ts";
import { writeLifecycleJunit } from "../report/junit-lifecycle.ts";
import { ALL_PHASES, buildGateInput, todayUtc, type PatchTargets, type Requirements } from "./gate-input.ts";

export interface RunOptions {
  html: boolean;
  /** Leave a lab this run brought up for itself running afterwards. */
  keep: boolean;
  timeoutS: number;
  /** Per-suite deadline. */
  suiteTimeoutMs?: number;
  runId?: string;
  /** Waivers file (default lab-config/waivers.yaml when it exists). */
  waiversFile?: string;
}

export interface RunOutcome {
  runId: string;
  runDir: string;
  decision: Decision;
}

export const GATE_INPUT_JSON = "gate-input.json";

/** Which machines receive which patches: any machine with a role the patch applies to. */
export function targetsOf(machines: MachineHandle[], artifacts: PatchArtifact[]): Map<MachineHandle, PatchArtifact[]> {
  const out = new Map<MachineHandle, PatchArtifact[]>();
  for (const m of machines) {
    const mine = artifacts.filter((a) => a.patch.appliesTo?.roles.some((r) => m.spec.roles.includes(r)));
    if (mine.length) out.set(m, mine);
  }
  return out;
}

/** The default plan: every phase, every suite of the machine, the restart the patch declares. */
export function defaultRequirements(m: MachineHandle, a: PatchArtifact): Requirements {
  return { phases: ALL_PHASES, suites: suitesFor(m), restart: a.patch.restart === "machine" };
}

/** Per patch, its target machines and what each must show (or why it has none). */
export function patchTargets(artifacts: PatchArtifact[], targets: Map<MachineHandle, PatchArtifact[]> | undefined, labName: string, unknownWhy?: string): PatchTargets[] {
  return artifacts.map((a) => {
    if (!targets) {
      return { artifact: a, targets: [], noTarget: { status: "broken" as const, message: `not verified: the run stopped before its target machines were known: ${unknownWhy ?? "unknown error"}` } };
    }
    const ms = [...targets.entries()].filter(([, as]) => as.includes(a)).map(([m]) => m);
    return {
      artifact: a,
      targets: ms.map((m) => ({ machine: m, requirements: defaultRequirements(m, a) })),
      ...(ms.length ? {} : { noTarget: { status: "skipped" as const, message: `${noTargetReason(a.patch, labName)}: nothing verified it` } }),
    };
  });
}

/** A machine's extra suites are relative to the lab file; they must exist before anything runs. */
export function resolveExtraSuites(loaded: LoadedBatch): void {
  const dir = path.dirname(loaded.lab.file);
  const problems: ConfigError[] = [];
  for (const [i, m] of loaded.lab.lab.machines.entries()) {
    m.suites = m.suites.map((s, j) => {
      const abs = path.resolve(dir, s);
      if (!fs.existsSync(abs)) problems.push(new ConfigError(`${loaded.lab.file}: machines[${i}].suites[${j}]: suite ${abs} does not exist`, "point it at a spec file, relative to the lab file", { file: loaded.lab.file, field: `machines[${i}].suites[${j}]`, value: s }));
      return abs;
    });
  }
  if (problems.length) throw new ConfigErrors(problems);
}

/** Bad input as gate.json problems: file, field, line, message, remedy. */
export function problemsOf(err: PatchlabError): ConfigProblem[] {
  const list = err instanceof ConfigErrors ? err.errors : err instanceof ConfigError ? [err] : [];
  if (list.length === 0) return [{ message: err.message, remedy: err.remedy }];
  return list.map((e) => ({
    ...(e.file ? { file: e.file } : {}),
    ...(e.field ? { field: e.field } : {}),
    ...(e.line !== undefined ? { line: e.line } : {}),
    message: e.message,
    remedy: e.remedy,
  }));
}

function writeGateInput(runDir: string, input: GateInput): void {
  const file = path.join(runDir, GATE_INPUT_JSON);
  const tmp = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, JSON.stringify(input, null, 2) + "\n");
  fs.renameSync(tmp, file);
}

export async function runBatch(batchRef: string, opts: RunOptions): Promise<RunOutcome> {
  // 1. Inputs. Any problem here is bad input: nothing in the lab is touched, gate.json says what to fix.
  let loaded: LoadedBatch | undefined;
  let waivers: LoadedWaivers = { waivers: [], file: undefined };
  let runId = opts.runId;
  let runDir = "";
  const artifacts: PatchArtifact[] = [];
  try {
    loaded = await loadBatch(batchRef);
    // The host must be able to take the lab (subnet free of its routes and engine networks, capacity).
    await checkLabFitsHost(loaded.lab, engine(), networkName(loaded.lab.lab.name));
    runId ??= newRunId(loaded.batch.name);
    runDir = path.join(reportsRoot(), runId);
    waivers = await loadWaivers(opts.waiversFile);
    resolveExtraSuites(loaded);
    // Build/locate every patch first: a bad package tree is bad input, found before the lab is touched.
    // By kind (harness/patch/registry.ts): a .deb is built or read, an apt update checked against the signed index.
    artifacts.push(...(await prepareArtifacts(loaded.patches, path.join(runDir, "patches"))));
  } catch (e) {
    const err = asPatchlabError(e);
    runId ??= newRunId(path.basename(batchRef).replace(/\.ya?ml$/i, ""));
    runDir = path.join(reportsRoot(), runId);
    fs.rmSync(path.join(runDir, "patches"), { recursive: true, force: true });
    say(err.describe());
    const decision = writeBadInputReport({ runDir, runId, batchRef, loaded, err, problems: err.exitCode === 3 ? problemsOf(err) : undefined });
    scrubTree(runDir);
    return { runId, runDir, decision };
  }
  const { batch } = loaded;
  const lab = loaded.lab.lab;
  const resultsDir = path.join(runDir, "allure-results");
  fs.mkdirSync(resultsDir, { recursive: true });

  const logs = new RunLogs(path.join(runDir, "logs"), runId);
  const journal = new Journal(runDir, { runId, batch: loaded.file, lab: lab.name });
  say(`run ${runId}: batch ${batch.name} (${artifacts.length} patch(es)) on lab ${lab.name}; reports in ${path.relative(process.cwd(), runDir) || runDir}`);

  const steps: StepRecord[] = [];
  const suites: SuiteRecord[] = [];
  let driver: DockerDriver | undefined;
  let ephemeral = false;
  let targets: Map<MachineHandle, PatchArtifact[]> | undefined;
  let failure: PatchlabError | undefined;
  let lock: { release(): void } | undefined;
  try {
    const docker = await requireEngine();
    lock = acquireLabLock(lab.name, `run ${runId}`, { run: runId });
    const probe = new DockerDriver(docker);
    await reap(docker, probe, logs.run);
    // A lab nobody brought up is brought up for this run alone, and taken down after it.
    const existing = await probe.status(lab);
    ephemeral = existing.every((s) => s.state === "absent");
    driver = new DockerDriver(docker, { log: (m) => logs.machine(m), onProgress: say, ephemeral });
    journal.record({ step: "lab-up", status: "started", message: ephemeral ? "bringing up a lab for this run" : "using the running lab" });
    const t0 = Date.now();
    const machines = await driver.up(lab, { runId, deadline: Date.now() + opts.timeoutS * 1000 });
    journal.record({ step: "lab-up", status: "passed", durationMs: Date.now() - t0 });
    const pki = await driver.pki(lab);

    // Targets and provisioner by patch kind; apt patches fill the lab update server first.
    const kindCtx: KindContext = { lab, machines, connect: (m) => driver!.connect(m), progress: say };
    targets = await targetsFor(artifacts, kindCtx);
    for (const a of artifacts) {
      if (![...targets.values()].some((as) => as.includes(a))) {
        journal.record({ patch: a.patch.id, step: "plan", status: "skipped", message: noTargetReason(a.patch, lab.name) });
      }
    }

    const provisioner = await provisionerFor(artifacts, targets, kindCtx);
    const { writeLifecycleResult } = await import("../report/allure-extras.ts");
    await Promise.all(
      [...targets.entries()].map(async ([m, mine]) => {
        try {
          await runMachinePipeline({
            driver: driver!,
            machine: m,
            all: machines,
            artifacts: mine,
            suites: suitesFor(m),
            provisioner,
            runId: runId!,
            runDir,
            caCertPath: pki.caCertPath,
            log: logs.machine(m.spec.name),
            deadlineMs: opts.timeoutS * 1000,
            runSuite: (suite, ctx, phase, patch) =>
              runSuite({
                suite,
                context: ctx,
                resultsDir,
                junitFile: path.join(runDir, "junit", `${m.spec.name}-${phase}${patch ? `-${patch}` : ""}-${suite.replace(/\W+/g, "_")}.xml`),
                labels: {},
                timeoutMs: opts.suiteTimeoutMs ?? 300_000,
                logFile: path.join(runDir, "logs", `${m.spec.name}.suites.log`),
              }),
            hooks: {
              step: (r) => {
                steps.push(r);
                journal.record({ machine: r.machine, ...(r.patch ? { patch: r.patch } : {}), step: r.step, status: r.status, message: r.message, durationMs: r.stop - r.start });
                writeLifecycleResult(resultsDir, { runId: runId!, lab: lab.name, ...r });
              },
              suite: (r) => {
                suites.push(r);
                const failed = r.result.tests.filter((t) => t.status !== "passed").length;
                journal.record({ machine: r.machine, ...(r.patch ? { patch: r.patch } : {}), step: `suite ${r.result.suite} ${r.phase}`, status: r.result.crashed ? "broken" : failed ? "failed" : "passed", message: r.result.crashed ? r.result.detail : `${r.result.tests.length - failed}/${r.result.tests.length} passed` });
              },
              progress: say,
            },
          });
        } catch (e) {
          // The pipeline could not even restore: the snapshot is kept and the reaper retries.
          const message = `pipeline aborted and the machine could not be restored: ${asPatchlabError(e).message}`;
          steps.push({ machine: m.spec.name, step: "pipeline", status: "broken", message, start: Date.now(), stop: Date.now() });
          journal.record({ machine: m.spec.name, step: "pipeline", status: "broken", message });
        }
      }),
    );
    journal.finish("finished");
  } catch (e) {
    failure = asPatchlabError(e);
    journal.record({ step: "run", status: "broken", message: failure.message });
    journal.finish("failed");
    if (!(failure instanceof LabError)) logs.run.error("run failed", { error: failure.message });
    say(failure.describe());
  } finally {
    try {
      if (driver && ephemeral && !opts.keep) {
        say(`taking down the lab this run brought up`);
        await driver.down(lab).catch((e) => say(`could not take the lab down (the next command's reaper retries): ${(e as Error).message}`));
      }
    } finally {
      lock?.release();
    }
  }

  // 3. Gate: what was required against what was recorded. A failed run still decides: undecided, never approved.
  const input = buildGateInput(patchTargets(artifacts, targets, lab.name, failure?.message), steps, suites, { today: todayUtc(), waivers: waivers.waivers });
  writeGateInput(runDir, input);
  let decision = decide(input);
  if (failure) {
    decision = {
      ...decision,
      verdict: decision.verdict === "rejected" ? "rejected" : "needs-review",
      exitCode: decision.exitCode === 1 ? 1 : 2,
      summary: `Run could not complete: ${failure.message}\n${decision.summary}`,
      error: { kind: failure instanceof LabError ? failure.kind : failure.name, message: failure.message, remedy: failure.remedy },
    };
  }
  writeLifecycleJunit(path.join(runDir, "junit", "lifecycle.xml"), steps);
  const written = await writeRunReport({ runDir, runId, batch: loaded, decision, html: opts.html, journal, input, waiversFile: waivers.file });
  // Last pass over everything the run wrote (suite processes' Allure results included): no lab credential stays.
  scrubTree(runDir);
  return { runId, runDir, decision: written };
}
