// What the warm suite worker gives a machine's whole cycle: patchlab's own machine pipeline
// (runMachinePipeline, exactly what `run` calls per machine) for one patch on the web machine,
// with suites run by mocha-runner.ts (a mocha CLI process per suite run, today's wiring) and by
// suite-worker.ts (warm processes; with tsx, or bundled suites on plain node), alternated so all
// see the same load. Not through the CLI:
// the orchestrator imports its runner directly (the switch is the lead's), so this drives the
// pipeline in-process with the same inputs the orchestrator builds.
import fs from "node:fs";
import path from "node:path";
import { loadBatch } from "../../harness/config/loader.ts";
import { nullLogger } from "../../harness/core/log.ts";
import { DockerDriver } from "../../harness/lab/drivers/docker-driver.ts";
import type Docker from "dockerode";
import { prepareArtifacts } from "../../harness/patch/registry.ts";
import { DebProvisioner } from "../../harness/patch/deb.ts";
import { runSuite, type RunSuiteOptions } from "../../harness/run/mocha-runner.ts";
import { runMachinePipeline, type StepRecord, type SuiteRecord } from "../../harness/run/machine-pipeline.ts";
import { requirementsFor } from "../../harness/run/orchestrator.ts";
import { SuiteWorkerPool } from "../../harness/run/suite-worker.ts";
import type { SuiteRunResult } from "../../harness/report/outcome-model.ts";
import { median } from "./util.ts";
import { sampleRss } from "./rss.ts";

export interface PipelineRun { runner: Runner; ms: number; suiteRuns: { phase: string; ms: number; checksMs: number }[]; verdictOk: boolean; peakTreeMb: number; }
const RUNNERS = ["mocha CLI process", "warm worker", "warm worker, bundled suites"] as const;
type Runner = (typeof RUNNERS)[number];
export interface PipelineFigures { rounds: number; runs: PipelineRun[]; summary: Record<string, { pipelineP50: number; suiteRunP50: number; checksP50: number; peakTreeMb: number }>; }

export async function benchPipeline(docker: Docker, batchFile: string, work: string, rounds: number): Promise<PipelineFigures> {
  const loaded = await loadBatch(batchFile);
  const lab = loaded.lab.lab;
  const driver = new DockerDriver(docker);
  const machines = await driver.up(lab, { runId: "bench-pipeline", deadline: Date.now() + 300_000 });
  const pki = await driver.pki(lab);
  const web = machines.find((m) => m.spec.name === "web")!;
  const artifacts = await prepareArtifacts(loaded.patches, path.join(work, "pipeline-patches"));
  const runs: PipelineRun[] = [];
  let pool: SuiteWorkerPool | undefined;
  try {
    for (let i = 0; i < rounds; i++) {
      for (const runner of RUNNERS) {
        const runDir = path.join(work, "pipeline", `${i}-${runner.replace(/\W+/g, "-")}`);
        const results = path.join(runDir, "allure-results");
        const suiteRuns: PipelineRun["suiteRuns"] = [];
        const steps: StepRecord[] = [];
        const suites: SuiteRecord[] = [];
        // A pool is born with its run, as the orchestrator would make it (one machine at work: one
        // process ahead): the first suite run may still wait for its warm-up.
        pool = runner === "mocha CLI process" ? undefined : new SuiteWorkerPool({ size: 1, bundle: runner === "warm worker, bundled suites" });
        const run = pool ? pool.runSuite : runSuite;
        // The bench process and every suite process it has (warm ones included), sampled.
        const rss = sampleRss(process.pid);
        const t0 = performance.now();
        await runMachinePipeline({
          driver, machine: web, all: machines, artifacts,
          requirements: new Map(artifacts.map((a) => [a.patch.id, requirementsFor(web, a)])),
          mode: "chain", provisioner: new DebProvisioner(), runId: `bench-pipeline-${i}`, runDir, caCertPath: pki.caCertPath, log: nullLogger, deadlineMs: 300_000,
          runSuite: async (suite, ctx, phase, tag): Promise<SuiteRunResult> => {
            const o: RunSuiteOptions = { suite, context: ctx, resultsDir: results, junitFile: path.join(runDir, "junit", `${phase}-${tag ?? "base"}.xml`), labels: {}, timeoutMs: 300_000 };
            const t = performance.now();
            const r = await run(o);
            suiteRuns.push({ phase, ms: performance.now() - t, checksMs: r.tests.reduce((a, x) => a + x.durationMs, 0) });
            return r;
          },
          hooks: { step: (r) => steps.push(r), suite: (r) => suites.push(r), blame: () => undefined, note: () => undefined, progress: () => undefined },
        });
        const ms = performance.now() - t0;
        const peakTreeMb = rss.stop().treeMb;
        pool?.close();
        const verdictOk = steps.every((s) => s.status === "passed") && suites.every((s) => !s.result.crashed && s.result.tests.every((t) => t.status === "passed"));
        runs.push({ runner, ms, suiteRuns, verdictOk, peakTreeMb });
        console.log(`[bench] pipeline ${i + 1}/${rounds} ${runner}: ${(ms / 1000).toFixed(2)} s (suite runs ${suiteRuns.map((x) => (x.ms / 1000).toFixed(2)).join(", ")} s)${verdictOk ? "" : " NOT all passed"}`);
        fs.rmSync(runDir, { recursive: true, force: true });
      }
    }
  } finally {
    pool?.close();
  }
  const summary: PipelineFigures["summary"] = {};
  for (const runner of RUNNERS) {
    const mine = runs.filter((r) => r.runner === runner);
    summary[runner] = { pipelineP50: median(mine.map((r) => r.ms)), suiteRunP50: median(mine.flatMap((r) => r.suiteRuns.map((x) => x.ms))), checksP50: median(mine.flatMap((r) => r.suiteRuns.map((x) => x.checksMs))), peakTreeMb: Math.max(...mine.map((r) => r.peakTreeMb)) };
  }
  return { rounds, runs, summary };
}
