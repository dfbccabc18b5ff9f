// The lifecycle of one lab machine in one run:
//   snapshot -> fingerprint -> baseline suites
//   -> for each patch: install -> (restart) -> post-install suites -> uninstall
//                      -> post-uninstall suites -> restore snapshot
//   -> fingerprint equals the one before -> delete the run's snapshot.
// Each patch is verified alone on a freshly restored machine (restores are sub-second), so
// a regression is always attributed to the patch that caused it. Every outcome is handed to
// `record` the moment it is known; the snapshot is restored whatever happens.
import { LabError, PatchlabError, asPatchlabError } from "../core/errors.ts";
import type { Logger } from "../core/log.ts";
import { diffFingerprints, fingerprint } from "../lab/fingerprint.ts";
import type { LabDriver } from "../lab/types.ts";
import type { MachineHandle, SnapshotRef } from "../lab/types.ts";
import type { PatchArtifact, PatchProvisioner, StepOutcome } from "../patch/deb.ts";
import type { SuiteRunResult } from "../report/outcome-model.ts";
import type { Depth, Phase, SuiteContext } from "./suite-context.ts";
import { suitesFor } from "./suites-for.ts";

export type StepKind = "install" | "restart" | "uninstall" | "restore";

export interface StepRecord {
  machine: string;
  patch?: string;
  step: StepKind;
  status: "passed" | "failed" | "broken" | "skipped";
  message: string;
  output?: string;
  start: number;
  stop: number;
}

export interface SuiteRecord {
  machine: string;
  /** Patch under test; undefined for baseline (which serves every patch of the machine). */
  patch?: string;
  phase: Phase;
  result: SuiteRunResult;
}

export interface PipelineHooks {
  step(r: StepRecord): void;
  suite(r: SuiteRecord): void;
  progress(line: string): void;
}

export interface PipelineInput {
  driver: LabDriver;
  machine: MachineHandle;
  all: MachineHandle[];
  artifacts: PatchArtifact[];
  provisioner: PatchProvisioner;
  runId: string;
  runDir: string;
  caCertPath: string;
  log: Logger;
  deadlineMs: number;
  runSuite: (suite: string, ctx: SuiteContext, phase: Phase, patch: string | undefined) => Promise<SuiteRunResult>;
  hooks: PipelineHooks;
  /** Suite depth (default full). */
  depth?: Depth;
  /** Whether the machine's application suites run (default true). */
  applications?: boolean;
}

export { suitesFor } from "./suites-for.ts";

export function suiteContext(p: PipelineInput, phase: Phase, patches: string[]): SuiteContext {
  const client = p.all.find((m) => m.spec.roles.includes("client"));
  if (!client) throw new LabError("harness", `lab ${p.machine.lab.name} has no client machine`, "add a machine with role client to the lab file");
  const toSuite = (m: MachineHandle) => ({ container: m.container, ip: m.ip, fqdn: m.fqdn, roles: m.spec.roles });
  return {
    runId: p.runId,
    phase,
    depth: p.depth ?? "full",
    patches,
    lab: { name: p.machine.lab.name, domain: p.machine.lab.domain, subnet: p.machine.lab.network.subnet },
    target: { name: p.machine.spec.name, ...toSuite(p.machine) },
    machines: Object.fromEntries(p.all.map((m) => [m.spec.name, toSuite(m)])),
    client: { name: client.spec.name, container: client.container },
    caCertPath: p.caCertPath,
  };
}

export async function runMachinePipeline(p: PipelineInput): Promise<void> {
  const { driver, machine: m, hooks, log } = p;
  const name = m.spec.name;
  const conn = driver.connect(m);
  const suites = suitesFor(m, { depth: p.depth ?? "full", applications: p.applications ?? true });
  const deadline = () => Date.now() + p.deadlineMs;

  const step = (r: Omit<StepRecord, "machine">) => {
    const rec = { machine: name, ...r };
    log.info(`step ${r.step}${r.patch ? ` ${r.patch}` : ""}: ${r.status}`, { message: r.message, ms: r.stop - r.start });
    hooks.step(rec);
  };
  const runPhase = async (phase: Phase, patch: string | undefined, patches: string[]) => {
    for (const s of suites) {
      hooks.progress(`${name}: ${phase}${patch ? ` ${patch}` : ""}: suite ${s}`);
      const result = await p.runSuite(s, suiteContext(p, phase, patches), phase, patch);
      log.info(`suite ${s} ${phase}`, { patch, crashed: result.crashed, tests: result.tests.map((t) => `${t.status} ${t.name}`) });
      hooks.suite({ machine: name, phase, result, ...(patch ? { patch } : {}) });
    }
  };

  const label = `pre-run-${p.runId}`.slice(0, 128);
  const snap = await driver.snapshot(m, label, p.runId);
  try {
    const before = await fingerprint(conn);
    log.info("fingerprint before", { packages: Object.keys(before.packages).length, files: Object.keys(before.files).length, listening: before.listening });
    await runPhase("baseline", undefined, p.artifacts.map((a) => a.patch.id));

    /** Restore the snapshot and prove it exact; a patch is only verified on an exact machine. */
    const restoreExactly = async (patch: string | undefined): Promise<boolean> => {
      const t = Date.now();
      await driver.restore(m, snap, deadline());
      const diff = diffFingerprints(before, await fingerprint(conn));
      const what = patch ? `before ${patch}` : "at the end of the run";
      step({
        step: "restore",
        ...(patch ? { patch } : {}),
        status: diff.equal ? "passed" : "broken",
        message: diff.equal
          ? `restored ${what}: state fingerprint equals the one before the run`
          : `restore ${what} not exact: ${diff.differences.slice(0, 10).join("; ")}`,
        start: t,
        stop: Date.now(),
      });
      return diff.equal;
    };

    for (const [i, a] of p.artifacts.entries()) {
      const id = a.patch.id;
      // A dirty machine would blame this patch for what the last one left: not verified, undecided.
      if (i > 0 && !(await restoreExactly(id))) continue;
      let t = Date.now();
      let installed = false;
      try {
        const r = await p.provisioner.install(conn, a);
        step({ patch: id, step: "install", status: outcomeStatus(r), message: r.message, output: r.output, start: t, stop: Date.now() });
        installed = r.ok;
      } catch (e) {
        step({ patch: id, step: "install", status: "broken", message: asPatchlabError(e).message, start: t, stop: Date.now() });
      }
      if (!installed) {
        // Nothing more can be learned about this patch on this machine; the restore below resets it.
        continue;
      }
      if (a.patch.restart === "machine") {
        t = Date.now();
        try {
          await conn.restart(deadline());
          step({ patch: id, step: "restart", status: "passed", message: "machine restarted and ready", start: t, stop: Date.now() });
        } catch (e) {
          const err = asPatchlabError(e);
          // A machine that does not come back after the patch's restart is the patch's failure.
          const status = err instanceof LabError && err.kind === "readiness-timeout" ? "failed" : "broken";
          step({ patch: id, step: "restart", status, message: err.message, start: t, stop: Date.now() });
        }
      }
      await runPhase("post-install", id, [id]);
      t = Date.now();
      try {
        const r = await p.provisioner.uninstall(conn, a);
        step({ patch: id, step: "uninstall", status: outcomeStatus(r), message: r.message, output: r.output, start: t, stop: Date.now() });
        if (r.ok) await runPhase("post-uninstall", id, [id]);
      } catch (e) {
        const err = asPatchlabError(e);
        step({ patch: id, step: "uninstall", status: err instanceof PatchlabError && err.exitCode === 1 ? "failed" : "broken", message: err.message, start: t, stop: Date.now() });
      }
    }

    // Put the machine back and prove it is exactly as it was.
    await restoreExactly(undefined);
  } catch (e) {
    // A lab error mid-pipeline: record it, and still put the machine back.
    const err = asPatchlabError(e);
    log.error("pipeline aborted", { error: err.message });
    step({ step: "restore", status: "broken", message: `pipeline aborted: ${err.message}`, start: Date.now(), stop: Date.now() });
    try {
      await driver.restore(m, snap, deadline());
    } catch (e2) {
      log.error("restore after abort failed; snapshot kept for the reaper", { error: (e2 as Error).message });
      throw e2;
    }
  }
  await driver.deleteSnapshot(snap);
}

const outcomeStatus = (r: StepOutcome): StepRecord["status"] => (r.ok ? "passed" : r.blame === "harness" ? "broken" : "failed");

