// `patchlab run <batch>`: load and check every input (bad input stops here, before anything
// is created, and still writes gate.json), make sure the lab is up, run every target
// machine's pipeline in parallel, then gate and report. Results are written as they happen;
// the lab is always left restored; every run ends with a gate.json and the gate's exit code.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { checkLabFitsHost, loadBatch, type LoadedBatch } from "../config/loader.ts";
import { networkName } from "../lab/addressing.ts";
import { ConfigErrors, ConfigError, asPatchlabError, LabError, type PatchlabError } from "../core/errors.ts";
import { RunLogs, say } from "../core/log.ts";
import { scrubTree } from "../core/redact.ts";
import { reportsRoot } from "../core/paths.ts";
import { docker as engine, dockerFor, requireEngine } from "../lab/drivers/docker-engine.ts";
import { engineOf, enginesOf } from "../lab/drivers/docker-engines.ts";
import { withTargetClient } from "./suite-context.ts";
import { isDockerMachine } from "../config/schemas.ts";
import { LabDrivers } from "../lab/drivers/lab-driver.ts";
import { acquireLabLock } from "../lab/lock.ts";
import { reapLab } from "../lab/reaper.ts";
import type { MachineHandle } from "../lab/types.ts";
import type { PatchArtifact } from "../patch/types.ts";
import { noTargetReason, prepareArtifacts, provisionerFor, targetsFor, type KindContext } from "../patch/registry.ts";
import { decide, type ConfigProblem, type Decision, type GateInput } from "../gate/gate.ts";
import { loadWaivers, type LoadedWaivers } from "../gate/load-waivers.ts";
import { runSuite, type SuiteLauncher } from "./mocha-runner.ts";
import { Journal, type JournalData } from "./journal.ts";
import { suitesFor } from "./suites-for.ts";
import type { Depth } from "./suite-context.ts";
import { runMachinePipeline, type Blame, type Mode, type Note, type WatchRecord, type StepRecord, type SuiteRecord } from "./machine-pipeline.ts";
import { loadPlan, type Plan, type PlanPatch } from "../plan/plan.ts";
import { newRunId } from "./run-id.ts";
import { finishedMachines, readRecords, recordsOf, RecordsFile } from "./records.ts";
import { withProgress } from "./progress.ts";
import type { IdempotencePolicy } from "../patch/idempotence.ts";
import { dockerEngineProbe, loadWatchPolicy, machineWatch, summaryText, watchChecks, writeWatchAllure, type WatchPolicy } from "../watch/index.ts";
import { ownerAlive, ownerToken } from "../core/owner.ts";
import { writeBadInputReport, writeRunReport } from "./finish.ts";
import { writeLifecycleJunit } from "../report/junit-lifecycle.ts";
import { runLabels } from "../report/labels.ts";
import { textAttachment } from "../report/attachments.ts";
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
  /** Suite depth of every patch the plan does not set (default full). */
  depth?: Depth;
  /** plan.json from `patchlab plan`: which machines, phases, depth and application checks each patch needs. */
  planFile?: string;
  /** chain (default): a machine's patches installed together, one restart; isolate: each alone. */
  mode?: Mode;
  /** With html: a previous report, history dir or run dir whose Allure history to continue (a fresh CI workspace). */
  historyFrom?: string;
  /** How many machines work at once (default: from the host's cores and memory). */
  concurrency?: number;
  /** Continue this killed run (its id or directory): finished machines keep their results. */
  resume?: string;
  /** Applying a patch twice must change nothing: reject (default), warn, or off. */
  idempotence?: IdempotencePolicy;
  /** Watch policy (name under lab-config/policies/ or a path; default "watch"), or false: no watchers. */
  watch?: string | false;
  /** Soak seconds after install (overrides the watch policy's; 0: no soak). */
  soakSeconds?: number;
}

export interface RunOutcome {
  runId: string;
  runDir: string;
  decision: Decision;
}

export const GATE_INPUT_JSON = "gate-input.json";

/** Which machines receive which patches: any machine with a role the patch applies to. */
/**
 * Longest first: with fewer slots than machines, a heavy machine started last holds a slot alone
 * at the end of the run (the app machine's browser suites were 46 s of a 102 s reference batch).
 * A machine's estimated work is the patches it verifies times its suites, an application (driven
 * in a real browser) counting as three; equal estimates keep the lab file's order.
 */
export function heaviestFirst<T extends [MachineHandle, PatchArtifact[]]>(todo: T[]): T[] {
  const work = ([m, mine]: T) => mine.length * (m.spec.roles.length + 3 * (m.spec.applications?.length ?? 0));
  return todo.map((t, i) => ({ t, i, w: work(t) })).sort((a, b) => b.w - a.w || a.i - b.i).map((x) => x.t);
}

/** The machines to verify in order: the servers first, then the clients every suite runs from. */
export function inWaves<T extends [MachineHandle, PatchArtifact[]]>(todo: T[]): T[][] {
  const vantage = ([m]: T) => m.spec.roles.includes("client");
  return [todo.filter((t) => !vantage(t)), todo.filter(vantage)].filter((w) => w.length > 0);
}

export function targetsOf(machines: MachineHandle[], artifacts: PatchArtifact[]): Map<MachineHandle, PatchArtifact[]> {
  const out = new Map<MachineHandle, PatchArtifact[]>();
  for (const m of machines) {
    const mine = artifacts.filter((a) => a.patch.appliesTo?.roles.some((r) => m.spec.roles.includes(r)));
    if (mine.length) out.set(m, mine);
  }
  return out;
}

/**
 * What a patch must show on a machine: the plan's phases, depth and application checks, or by
 * default every phase and every suite; and the restart the patch declares.
 */
export function requirementsFor(m: MachineHandle, a: PatchArtifact, planned?: PlanPatch, runDepth: Depth = "full", idempotence: IdempotencePolicy = "reject"): Requirements {
  const depth = planned?.depth ?? runDepth;
  const applications = planned?.applications ?? true;
  return {
    idempotence: idempotence !== "off",
    phases: planned?.phases ?? ALL_PHASES,
    suites: suitesFor(m, { depth, applications }),
    restart: a.patch.restart === "machine",
    depth,
    applications,
  };
}

/** Per patch, its target machines and what each must show (or why it has none). */
export function patchTargets(
  artifacts: PatchArtifact[],
  targets: Map<MachineHandle, PatchArtifact[]> | undefined,
  labName: string,
  unknownWhy?: string,
  plan?: Plan,
  runDepth?: Depth,
  need: (m: MachineHandle, a: PatchArtifact, planned?: PlanPatch) => Requirements = (m, a, planned) => requirementsFor(m, a, planned, runDepth),
): PatchTargets[] {
  return artifacts.map((a) => {
    const planned = plan?.patches.find((x) => x.patch === a.patch.id);
    if (planned?.applicability === "not-applicable") return { artifact: a, targets: [], notApplicable: planned.reason };
    if (!targets) {
      return { artifact: a, targets: [], noTarget: { status: "broken" as const, message: `not verified: the run stopped before its target machines were known: ${unknownWhy ?? "unknown error"}` } };
    }
    const ms = [...targets.entries()].filter(([, as]) => as.includes(a)).map(([m]) => m);
    return {
      artifact: a,
      targets: ms.map((m) => ({ machine: m, requirements: need(m, a, planned) })),
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

/** A plan must be for this batch and name only known patches and machines. */
export function checkPlan(plan: Plan, loaded: LoadedBatch, file: string): Plan {
  const problems: ConfigError[] = [];
  const ids = new Set(loaded.patches.map((p) => p.patch.id));
  const machines = new Set(loaded.lab.lab.machines.map((m) => m.name));
  if (plan.batch !== loaded.batch.name) problems.push(new ConfigError(`plan ${file} is for batch ${plan.batch}, not ${loaded.batch.name}`, "run `patchlab plan` on this batch", { file, field: "batch", value: plan.batch }));
  for (const [i, p] of plan.patches.entries()) {
    if (!ids.has(p.patch)) problems.push(new ConfigError(`plan ${file}: patches[${i}].patch ${p.patch} is not in batch ${loaded.batch.name}`, "re-plan after changing the batch", { file, field: `patches[${i}].patch`, value: p.patch }));
    for (const m of p.machines) if (!machines.has(m)) problems.push(new ConfigError(`plan ${file}: patches[${i}].machines: ${m} is not a machine of lab ${loaded.lab.lab.name}`, "re-plan after changing the lab", { file, field: `patches[${i}].machines`, value: m }));
  }
  for (const id of ids) if (!plan.patches.some((p) => p.patch === id)) problems.push(new ConfigError(`plan ${file} has nothing for patch ${id}`, "re-plan after changing the batch", { file, field: "patches", value: id }));
  if (problems.length) throw new ConfigErrors(problems);
  return plan;
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

/** The run to resume: its journal, and the options it was started with (bad input when there is nothing to resume). */
export function resumeTarget(ref: string): { runDir: string; journal: JournalData } {
  const runDir = [path.resolve(ref), path.join(reportsRoot(), ref)].find((d) => fs.existsSync(path.join(d, "run.json")));
  if (!runDir) throw new ConfigError(`--resume ${ref}: no run journal (run.json) there or under ${reportsRoot()}`, "pass the id of a run that was killed (see reports/)", { field: "--resume", value: ref });
  let journal: JournalData;
  try {
    journal = Journal.read(runDir);
  } catch (e) {
    throw new ConfigError(`--resume ${ref}: ${path.join(runDir, "run.json")} is not a readable run journal: ${(e as Error).message}`, "it cannot be resumed; run the batch again", { file: path.join(runDir, "run.json") });
  }
  if (journal.state === "finished") throw new ConfigError(`--resume ${ref}: the run finished; there is nothing to resume`, "re-gate it with `patchlab gate` or run the batch again", { field: "--resume", value: ref });
  if (journal.pid !== process.pid && ownerAlive(ownerToken(journal.pid))) throw new LabError("busy", `run ${journal.runId} is still running (pid ${journal.pid})`, "wait for it, or stop it first");
  if (!journal.options) throw new ConfigError(`--resume ${ref}: the run was started by an older patchlab that did not record its options`, "run the batch again", { field: "--resume", value: ref });
  return { runDir, journal };
}

/** Machines at once: enough to use the host, few enough that each step keeps its solo speed. */
export function defaultConcurrency(machines: number): number {
  const byCpu = Math.max(1, os.availableParallelism());
  const byMemory = Math.max(1, Math.floor(os.freemem() / (512 * 1024 * 1024)));
  return Math.max(1, Math.min(machines, byCpu, byMemory));
}

export async function runBatch(batchRef: string | undefined, opts: RunOptions): Promise<RunOutcome> {
  // A resumed run continues with the batch and options it was started with.
  let resumed: { runDir: string; journal: JournalData } | undefined;
  try {
    if (opts.resume) {
      resumed = resumeTarget(opts.resume);
      const o = resumed.journal.options!;
      opts = { ...opts, runId: resumed.journal.runId, mode: o.mode, timeoutS: o.timeoutS, html: o.html, ...(o.plan ? { planFile: o.plan } : {}), ...(o.waivers ? { waiversFile: o.waivers } : {}), ...(o.concurrency ? { concurrency: o.concurrency } : {}) };
      if (batchRef && path.resolve(batchRef) !== resumed.journal.batch) throw new ConfigError(`--resume ${opts.resume} was a run of ${resumed.journal.batch}, not ${batchRef}`, "give no batch with --resume, or the same one", { field: "<batch>", value: batchRef });
      batchRef = resumed.journal.batch;
    }
    if (!batchRef) throw new ConfigError("no batch given", "pass a batch file, or --resume <run>", { field: "<batch>" });
  } catch (e) {
    const err = asPatchlabError(e);
    say(err.describe());
    const runId = newRunId("resume");
    const runDir = path.join(reportsRoot(), runId);
    return { runId, runDir, decision: writeBadInputReport({ runDir, runId, batchRef: batchRef ?? opts.resume ?? "", loaded: undefined, err, problems: err.exitCode === 3 ? problemsOf(err) : undefined }) };
  }
  // 1. Inputs. Any problem here is bad input: nothing in the lab is touched, gate.json says what to fix.
  let loaded: LoadedBatch | undefined;
  let waivers: LoadedWaivers = { waivers: [], file: undefined };
  let runId = opts.runId;
  let runDir = "";
  let plan: Plan | undefined;
  let watchPolicy: WatchPolicy | undefined;
  const artifacts: PatchArtifact[] = [];
  try {
    loaded = await loadBatch(batchRef);
    runId ??= newRunId(loaded.batch.name);
    runDir = path.join(reportsRoot(), runId);
    // The host must be able to take the lab (private subnet, no clash with its routes, capacity).
    await checkLabFitsHost(loaded.lab, engine(), networkName(loaded.lab.lab.name));
    waivers = await loadWaivers(opts.waiversFile);
    resolveExtraSuites(loaded);
    if (opts.planFile) plan = checkPlan(loadPlan(opts.planFile), loaded, opts.planFile);
    if (opts.watch !== false) {
      watchPolicy = await loadWatchPolicy(opts.watch ?? process.env.PATCHLAB_WATCH_POLICY ?? "watch");
      if (opts.soakSeconds !== undefined) watchPolicy = { ...watchPolicy, soak: { ...watchPolicy.soak, seconds: opts.soakSeconds } };
    }
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
  const options = { mode: opts.mode ?? "chain", timeoutS: opts.timeoutS, html: opts.html, ...(opts.planFile ? { plan: path.resolve(opts.planFile) } : {}), ...(waivers.file ? { waivers: waivers.file } : {}), ...(opts.concurrency ? { concurrency: opts.concurrency } : {}) } as const;
  const journal = resumed ? new Journal(runDir, { resume: resumed.journal }) : new Journal(runDir, { runId, batch: loaded.file, lab: lab.name, options });
  // What finished machines verified before the run was killed stays; what the others half-did goes.
  const kept = resumed ? recordsOf(readRecords(runDir), finishedMachines(readRecords(runDir))) : { steps: [], suites: [], blames: [], notes: [], watches: [] };
  const records = new RecordsFile(runDir, kept);
  say(`run ${runId}: batch ${batch.name} (${artifacts.length} patch(es)) on lab ${lab.name}; reports in ${path.relative(process.cwd(), runDir) || runDir}${resumed ? `; resumed (${new Set(kept.steps.map((s) => s.machine)).size} machine(s) already done)` : ""}`);

  // What each patch must show on each machine: the plan's (or every) phase and suite, the
  // lifecycle checks, and the watchers in every suite phase (and the soak).
  const watchNames = watchPolicy ? watchChecks(watchPolicy).map((c) => c.name) : [];
  const soak = !!watchPolicy && watchPolicy.soak.seconds > 0;
  const needOf = (m: MachineHandle, a: PatchArtifact, planned?: PlanPatch): Requirements => ({ ...requirementsFor(m, a, planned, opts.depth, opts.idempotence), watchers: watchNames, soak });

  const steps: StepRecord[] = [...kept.steps];
  const suites: SuiteRecord[] = [...kept.suites];
  const blames: Blame[] = [...kept.blames];
  const notes: Note[] = [...kept.notes];
  const watches: WatchRecord[] = [...kept.watches];
  let driver: LabDrivers | undefined;
  let ephemeral = false;
  let targets: Map<MachineHandle, PatchArtifact[]> | undefined;
  let failure: PatchlabError | undefined;
  let lock: { release(): void } | undefined;
  let suitePool: { launch: SuiteLauncher; close(): void } | undefined;
  let wereRunning: string[] = [];
  try {
    await requireEngine();
    for (const e of enginesOf(lab)) if (!e.isDefault) await requireEngine(dockerFor(e)); // site engines
    // Warm suite processes (suite-worker.ts, bundled suites on plain node): they load during
    // lab-up, so a suite phase does not pay a process start. PATCHLAB_SUITE_WORKERS=off runs a
    // mocha CLI child per suite instead (same results either way).
    if (process.env.PATCHLAB_SUITE_WORKERS !== "off") {
      const { SuiteWorkerPool } = await import("./suite-worker.ts");
      suitePool = new SuiteWorkerPool({ size: opts.concurrency ?? defaultConcurrency(lab.machines.length), bundle: true });
    }
    lock = acquireLabLock(lab.name, `run ${runId}`, { run: runId });
    await reapLab(lab, logs.run);
    // A lab nobody brought up is brought up for this run alone, and taken down after it.
    const existing = await new LabDrivers().status(lab);
    ephemeral = existing.every((s) => s.state === "absent");
    wereRunning = existing.filter((s) => s.state === "running").map((s) => s.machine);
    // Each machine through the driver its lab file names (containers, VMs, servers over SSH).
    driver = new LabDrivers({ log: (m) => logs.machine(m), onProgress: say, ephemeral });
    journal.record({ step: "lab-up", status: "started", message: ephemeral ? "bringing up a lab for this run" : "using the running lab" });
    const t0 = Date.now();
    const machines = await driver.up(lab, { runId, deadline: Date.now() + opts.timeoutS * 1000 });
    journal.record({ step: "lab-up", status: "passed", durationMs: Date.now() - t0 });
    const pki = await driver.pki(lab);

    // Targets and provisioner by patch kind; apt patches fill the lab update server first.
    const kindCtx: KindContext = { lab, machines, connect: (m) => driver!.connect(m), progress: say, runId, provisioning: { workDir: path.join(runDir, "backups") } };
    // A plan names each patch's machines; without one, the patch kind decides (roles, or who lacks the update).
    const only = plan ? new Map(plan.patches.map((x) => [x.patch, x.applicability === "applicable" ? x.machines : []])) : undefined;
    targets = await targetsFor(artifacts, kindCtx, only);
    for (const a of artifacts) {
      if (![...targets.values()].some((as) => as.includes(a))) {
        journal.record({ patch: a.patch.id, step: "plan", status: "skipped", message: noTargetReason(a.patch, lab.name) });
      }
    }

    const provisioner = await provisionerFor(artifacts, targets, kindCtx);
    const patchInfo = (id: string) => {
      const p = artifacts.find((a) => a.patch.id === id)!.patch;
      return { id, severity: p.severity, ...(p.advisory ? { advisory: p.advisory } : {}), cves: p.cves };
    };
    const { writeLifecycleResult } = await import("../report/allure-extras.ts");
    const done = new Set(kept.steps.map((s) => s.machine));
    const todo = heaviestFirst([...targets.entries()].filter(([m]) => !done.has(m.spec.name)));
    const limit = opts.concurrency ?? defaultConcurrency(todo.length);
    // Patches found failing alone on one machine: the next machine whose aggregate fails verifies them apart first.
    const suspects = new Set<string>();
    // Watchers of logs, counters and latency on every machine (the Docker engine's view plus inside the machine).
    const watchFor = (m: MachineHandle) =>
      watchPolicy ? { make: () => machineWatch({ machine: m, conn: driver!.connect(m), ...(isDockerMachine(m.spec) ? { engine: dockerEngineProbe(dockerFor(engineOf(lab, m.spec)), m.container, m.spec.name) } : {}), policy: watchPolicy!, log: logs.machine(m.spec.name), pki }), policy: watchPolicy, soak } : undefined;
    // Every suite runs from a client machine: a client being patched or restored under another
    // machine's checks would change what those checks see. Clients are verified last, once no
    // other machine's checks need them.
    const waves = inWaves(todo);
    for (const wave of waves) await withProgress(wave.map(([m, mine]) => ({ name: m.spec.name, m, mine })), { concurrency: limit }, async ({ m, mine }, progress) => {
        try {
          const watch = watchFor(m);
          await runMachinePipeline({
            ...(watch ? { watch } : {}),
            driver: driver!,
            machine: m,
            all: machines,
            busy: todo.map(([t]) => t.spec.name),
            suspects,
            artifacts: mine,
            requirements: new Map(mine.map((a) => [a.patch.id, needOf(m, a, plan?.patches.find((x) => x.patch === a.patch.id))])),
            mode: opts.mode ?? "chain",
            idempotence: opts.idempotence ?? "reject",
            provisioner,
            runId: runId!,
            runDir,
            caCertPath: pki.caCertPath,
            log: logs.machine(m.spec.name),
            deadlineMs: opts.timeoutS * 1000,
            runSuite: (suite, ctx, phase, tag) =>
              runSuite({
                suite,
                context: withTargetClient(ctx, m, machines), // probed from a client on the machine's own engine
                resultsDir,
                junitFile: path.join(runDir, "junit", `${m.spec.name}-${phase}${tag ? `-${tag}` : ""}-${suite.replace(/\W+/g, "_")}.xml`),
                timeoutMs: opts.suiteTimeoutMs ?? 300_000,
                logFile: path.join(runDir, "logs", `${m.spec.name}.suites.log`),
                ...(suitePool ? { launcher: suitePool.launch } : {}),
                // epic = batch, feature = patch, story = phase, host, severity, owner, advisory and CVE links.
                ...runLabels({ batch: batch.name, patches: ctx.patches.map(patchInfo), machine: m.spec, phase }),
              }),
            hooks: {
              step: (r) => {
                steps.push(r);
                records.append({ type: "step", ...r });
                journal.record({ machine: r.machine, ...(r.patch ? { patch: r.patch } : {}), step: r.step, status: r.status, message: r.message, durationMs: r.stop - r.start });
                const about = r.group ?? (r.patch ? [r.patch] : mine.map((a) => a.patch.id));
                const { output: _output, attachments, ...rest } = r;
                writeLifecycleResult(resultsDir, { runId: runId!, lab: lab.name, ...rest, attachments: (attachments ?? []).map((x) => textAttachment(x.name, x.content)), ...runLabels({ batch: batch.name, patches: about.map(patchInfo), machine: m.spec, phase: r.step }) });
              },
              suite: (r) => {
                suites.push(r);
                records.append({ type: "suite", ...r });
                const failed = r.result.tests.filter((t) => t.status !== "passed").length;
                journal.record({ machine: r.machine, ...(r.patch ? { patch: r.patch } : {}), step: `suite ${r.result.suite} ${r.phase}`, status: r.result.crashed ? "broken" : failed ? "failed" : "passed", message: r.result.crashed ? r.result.detail : `${r.result.tests.length - failed}/${r.result.tests.length} passed` });
              },
              watch: (w) => {
                watches.push(w);
                // Charts and sample lines go to the report; the record keeps what was found.
                records.append({ type: "watch", ...w, result: { ...w.result, findings: w.result.findings.map(({ evidence: _e, ...f }) => f) } });
                writeWatchAllure(resultsDir, w.result, { ...(w.patch ? { patch: w.patch } : w.group ? { patch: w.group.join(",") } : {}), runId: runId!, lab: lab.name, start: Date.now(), stop: Date.now() });
                const found = w.result.findings.length || w.result.error;
                if (found) say(summaryText([w.result]).trimEnd());
              },
              note: (n) => {
                notes.push(n);
                records.append({ type: "note", ...n });
              },
              blame: (b) => {
                blames.push(b);
                records.append({ type: "blame", ...b });
                journal.record({ machine: b.machine, step: "blame", status: b.culprits.length ? "failed" : "passed", message: b.message });
              },
              progress: (line) => progress.step(line),
            },
          });
        } catch (e) {
          // The pipeline could not even restore: the snapshot is kept and the reaper retries.
          const message = `pipeline aborted and the machine could not be restored: ${asPatchlabError(e).message}`;
          const rec: StepRecord = { machine: m.spec.name, step: "pipeline", status: "broken", message, start: Date.now(), stop: Date.now() };
          steps.push(rec);
          records.append({ type: "step", ...rec });
          journal.record({ machine: m.spec.name, step: "pipeline", status: "broken", message });
        }
      });
    journal.finish("finished");
  } catch (e) {
    failure = asPatchlabError(e);
    journal.record({ step: "run", status: "broken", message: failure.message });
    journal.finish("failed");
    if (!(failure instanceof LabError)) logs.run.error("run failed", { error: failure.message });
    say(failure.describe());
  } finally {
    try {
      // Machines that ran before the run run after it (an engine restarted mid-run stopped them all).
      if (driver && !ephemeral && wereRunning.length) {
        const back = await driver.startStopped(lab, wereRunning, Date.now() + opts.timeoutS * 1000).catch((e: unknown) => (say(`could not start stopped machines again (\`patchlab lab up\` does): ${(e as Error).message}`), []));
        if (back.length) say(`started again machine(s) found stopped after the run (did their engine restart?): ${back.join(", ")}`);
      }
      if (driver && ephemeral && !opts.keep) {
        say(`taking down the lab this run brought up`);
        await driver.down(lab).catch((e) => say(`could not take the lab down (the next command's reaper retries): ${(e as Error).message}`));
      }
    } finally {
      suitePool?.close();
      lock?.release();
      records.close();
    }
  }

  // 3. Gate: what was required against what was recorded. A failed run still decides: undecided, never approved.
  const input = buildGateInput(patchTargets(artifacts, targets, lab.name, failure?.message, plan, opts.depth, needOf), steps, suites, { today: todayUtc(), waivers: waivers.waivers, blames, notes, watches });
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
  const written = await writeRunReport({ runDir, runId, batch: loaded, decision, html: opts.html, journal, input, waiversFile: waivers.file, ...(opts.historyFrom ? { historyFrom: opts.historyFrom } : {}) });
  // Last pass over everything the run wrote (suite processes' Allure results included): no lab credential stays.
  scrubTree(runDir);
  return { runId, runDir, decision: written };
}
