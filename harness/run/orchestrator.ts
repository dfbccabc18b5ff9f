// `patchlab run <batch>`: load and check the batch (bad input stops here, before anything is
// created), make sure the lab is up, run every target machine's pipeline in parallel, then
// gate and report. Results are written as they happen; the lab is always left restored.
import fs from "node:fs";
import path from "node:path";
import { loadBatch, type LoadedBatch } from "../config/loader.ts";
import { asPatchlabError, LabError } from "../core/errors.ts";
import { RunLogs, say } from "../core/log.ts";
import { reportsRoot } from "../core/paths.ts";
import { requireEngine } from "../lab/drivers/docker-engine.ts";
import { DockerDriver } from "../lab/drivers/docker-driver.ts";
import { acquireLabLock } from "../lab/lock.ts";
import { reap } from "../lab/reaper.ts";
import type { MachineHandle } from "../lab/types.ts";
import { DebProvisioner, prepareDeb, type PatchArtifact } from "../patch/deb.ts";
import { decide, type Decision, type GateInput } from "../gate/gate.ts";
import { runSuite } from "./mocha-runner.ts";
import { Journal } from "./journal.ts";
import { runMachinePipeline, suitesFor, type StepRecord, type SuiteRecord } from "./machine-pipeline.ts";
import { newRunId } from "./run-id.ts";
import type { Depth } from "./suite-context.ts";
import { writeRunReport } from "./finish.ts";
import { writeLifecycleJunit } from "../report/junit-lifecycle.ts";

export interface RunOptions {
  html: boolean;
  /** Leave a lab this run brought up for itself running afterwards. */
  keep: boolean;
  timeoutS: number;
  /** Per-suite deadline. */
  suiteTimeoutMs?: number;
  runId?: string;
  /** Suite depth for every patch (default full). */
  depth?: Depth;
}

export interface RunOutcome {
  runId: string;
  runDir: string;
  decision: Decision;
}

/** Which machines receive which patches: any machine with a role the patch applies to. */
export function targetsOf(machines: MachineHandle[], artifacts: PatchArtifact[]): Map<MachineHandle, PatchArtifact[]> {
  const out = new Map<MachineHandle, PatchArtifact[]>();
  for (const m of machines) {
    const mine = artifacts.filter((a) => a.patch.appliesTo.roles.some((r) => m.spec.roles.includes(r)));
    if (mine.length) out.set(m, mine);
  }
  return out;
}

/** Turn what the pipelines recorded into the gate's input: every required result, or its absence. */
export function gateInput(
  artifacts: PatchArtifact[],
  targets: Map<MachineHandle, PatchArtifact[]>,
  steps: StepRecord[],
  suites: SuiteRecord[],
  depth: Depth = "full",
): GateInput {
  return {
    patches: artifacts.map((a) => {
      const id = a.patch.id;
      const machines = [...targets.entries()].filter(([, as]) => as.includes(a)).map(([m]) => m);
      const stepOf = (machine: string, kind: "install" | "uninstall") => {
        const s = steps.find((x) => x.machine === machine && x.patch === id && x.step === kind);
        if (!s) {
          const dirty = steps.find((x) => x.machine === machine && x.patch === id && x.step === "restore" && x.status !== "passed");
          return { status: "not-run" as const, reason: dirty ? `not verified: ${dirty.message}` : `${kind} did not run` };
        }
        if (s.status === "passed") return { status: "ok" as const };
        if (s.status === "failed") return { status: "failed" as const, message: s.message };
        return { status: "not-run" as const, reason: s.message };
      };
      const required = machines.flatMap((m) =>
        suitesFor(m, { depth, applications: true }).flatMap((suite) =>
          (["baseline", "post-install", "post-uninstall"] as const).map((phase) => {
            const name = suite.split("/").pop()!;
            const rec = suites.find((s) => s.machine === m.spec.name && s.phase === phase && s.result.suite === name && (phase === "baseline" || s.patch === id));
            return { phase, machine: m.spec.name, suite: name, result: rec?.result ?? null };
          }),
        ),
      );
      if (machines.length === 0) {
        // Nothing verified it: a missing result, never an approval.
        const none = { machine: "(no target)", outcome: { status: "not-run" as const, reason: `no lab machine has a role in [${a.patch.appliesTo.roles.join(", ")}]` } };
        return { patch: id, install: [none], uninstall: [none], suites: [] };
      }
      return {
        patch: id,
        install: machines.map((m) => ({ machine: m.spec.name, outcome: stepOf(m.spec.name, "install") })),
        uninstall: machines.map((m) => ({ machine: m.spec.name, outcome: stepOf(m.spec.name, "uninstall") })),
        suites: required,
      };
    }),
  };
}

export async function runBatch(batchRef: string, opts: RunOptions): Promise<RunOutcome> {
  const loaded: LoadedBatch = await loadBatch(batchRef);
  const { batch } = loaded;
  const lab = loaded.lab.lab;
  const runId = opts.runId ?? newRunId(batch.name);
  const runDir = path.join(reportsRoot(), runId);
  const resultsDir = path.join(runDir, "allure-results");
  fs.mkdirSync(resultsDir, { recursive: true });

  // Build/locate every patch first: a bad package tree is bad input, found before the lab is touched.
  const artifacts: PatchArtifact[] = [];
  for (const p of loaded.patches) artifacts.push(await prepareDeb(p.patch, p.file, path.join(runDir, "patches")));

  const logs = new RunLogs(path.join(runDir, "logs"), runId);
  const journal = new Journal(runDir, { runId, batch: loaded.file, lab: lab.name });
  say(`run ${runId}: batch ${batch.name} (${artifacts.length} patch(es)) on lab ${lab.name}; reports in ${path.relative(process.cwd(), runDir) || runDir}`);

  const docker = await requireEngine();
  const lock = acquireLabLock(lab.name, `run ${runId}`);
  const steps: StepRecord[] = [];
  const suites: SuiteRecord[] = [];
  let driver: DockerDriver | undefined;
  let ephemeral = false;
  let decision: Decision | undefined;
  try {
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

    const targets = targetsOf(machines, artifacts);
    for (const a of artifacts) {
      if (![...targets.values()].some((as) => as.includes(a))) {
        journal.record({ patch: a.patch.id, step: "plan", status: "skipped", message: `no machine in lab ${lab.name} has a role in [${a.patch.appliesTo.roles.join(", ")}]` });
      }
    }

    const provisioner = new DebProvisioner();
    const { writeLifecycleResult } = await import("../report/allure-extras.ts");
    await Promise.all(
      [...targets.entries()].map(async ([m, mine]) => {
        try {
          await runMachinePipeline({
            driver: driver!,
            machine: m,
            all: machines,
            artifacts: mine,
            provisioner,
            runId,
            runDir,
            caCertPath: pki.caCertPath,
            log: logs.machine(m.spec.name),
            deadlineMs: opts.timeoutS * 1000,
            depth: opts.depth ?? "full",
            applications: true,
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
                writeLifecycleResult(resultsDir, { runId, lab: lab.name, ...r });
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
          journal.record({ machine: m.spec.name, step: "pipeline", status: "broken", message: asPatchlabError(e).message });
        }
      }),
    );

    decision = decide(gateInput(artifacts, targets, steps, suites, opts.depth));
    journal.finish("finished");
  } catch (e) {
    const err = asPatchlabError(e);
    journal.record({ step: "run", status: "broken", message: err.message });
    journal.finish("failed");
    // Even a run that could not start writes a gate decision: undecided, never approved.
    decision = decide(gateInput(artifacts, new Map(), steps, suites));
    decision = {
      ...decision,
      verdict: "needs-review",
      exitCode: 2,
      summary: `Run could not complete: ${err.message}\n${decision.summary}`,
    };
    if (!(err instanceof LabError)) logs.run.error("run failed", { error: err.message });
    say(err.describe());
  } finally {
    try {
      if (driver && ephemeral && !opts.keep) {
        say(`taking down the lab this run brought up`);
        await driver.down(lab);
      }
    } finally {
      lock.release();
    }
  }
  writeLifecycleJunit(path.join(runDir, "junit", "lifecycle.xml"), steps);
  const written = await writeRunReport({ runDir, runId, batch: loaded, decision, html: opts.html, journal });
  return { runId, runDir, decision: written };
}
