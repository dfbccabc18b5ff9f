// The lifecycle of one lab machine in one run:
//   snapshot -> fingerprint -> baseline suites
//   -> install the machine's patches together (no restart between them) -> one restart if any
//      needs it -> post-install suites -> uninstall them (reverse order) -> post-uninstall suites
//   -> restore the snapshot, proven exact by the fingerprint -> delete the snapshot.
// Chained (the default) tests the aggregate production will get. When the aggregate is
// rejected, each patch is verified alone on the restored machine (openQA's aggregate + single
// update) and, when none fails alone, the smallest combination that breaks is searched: blame
// names the patch, or the patches, that break it. `isolate` verifies each patch alone from the
// start. Every outcome is handed to the hooks the moment it is known; the snapshot is restored
// whatever happens.
import { LabError, PatchlabError, asPatchlabError } from "../core/errors.ts";
import type { Logger } from "../core/log.ts";
import { diffFingerprints, fingerprint } from "../lab/fingerprint.ts";
import type { Fingerprint, LabDriver, MachineHandle, SnapshotRef } from "../lab/types.ts";
import type { PatchArtifact, PatchProvisioner, StepOutcome } from "../patch/types.ts";
import type { SuiteRunResult } from "../report/outcome-model.ts";
import { decide } from "../gate/gate.ts";
import type { Depth, Phase, SuiteContext } from "./suite-context.ts";
import { suitesFor as suitesForMachine } from "./suites-for.ts";
import { requiredOn, stepEvidence, suiteEvidence, type Requirements } from "./gate-input.ts";

export type StepKind = "install" | "restart" | "uninstall" | "restore" | "pipeline";

export interface StepRecord {
  machine: string;
  /** The patch the step is about; absent for machine-level steps (the pipeline). */
  patch?: string;
  /** Patches verified together when this was recorded (chained mode): the record serves each. */
  group?: string[];
  step: StepKind;
  status: "passed" | "failed" | "broken" | "skipped";
  message: string;
  output?: string;
  start: number;
  stop: number;
}

export interface SuiteRecord {
  machine: string;
  /** Patch under test alone; absent for baseline (which serves every patch of the machine) and for a group. */
  patch?: string;
  group?: string[];
  phase: Phase;
  result: SuiteRunResult;
}

/**
 * After a rejected aggregate: whom its records still speak for. Patches not in `culprits`
 * are judged on their own single runs instead.
 */
export interface Blame {
  machine: string;
  group: string[];
  culprits: string[];
  message: string;
}

export interface PipelineHooks {
  step(r: StepRecord): void;
  suite(r: SuiteRecord): void;
  blame(b: Blame): void;
  /** What the machine is doing now, for people (the machine's name is the caller's to add). */
  progress(line: string): void;
}

export type Mode = "chain" | "isolate";

export interface PipelineInput {
  driver: LabDriver;
  machine: MachineHandle;
  all: MachineHandle[];
  /** The machine's patches, in batch order. */
  artifacts: PatchArtifact[];
  /** What each patch must show on this machine (phases, suites, restart). */
  requirements: Map<string, Requirements>;
  mode: Mode;
  provisioner: PatchProvisioner;
  runId: string;
  runDir: string;
  caCertPath: string;
  log: Logger;
  deadlineMs: number;
  /** Runs one suite; `tag` names the run (patch id or group) for file names. */
  runSuite: (suite: string, ctx: SuiteContext, phase: Phase, tag: string | undefined) => Promise<SuiteRunResult>;
  hooks: PipelineHooks;
}

/** Suites a machine must pass when nothing narrows them: every role, application and extra suite (see suites-for.ts). */
export function suitesFor(m: MachineHandle): string[] {
  return suitesForMachine(m, { depth: "full", applications: true });
}

export function suiteContext(p: Pick<PipelineInput, "all" | "machine" | "runId" | "caCertPath">, phase: Phase, patches: string[], depth: Depth = "full"): SuiteContext {
  const client = p.all.find((m) => m.spec.roles.includes("client"));
  if (!client) throw new LabError("harness", `lab ${p.machine.lab.name} has no client machine`, "add a machine with role client to the lab file");
  const toSuite = (m: MachineHandle) => ({ container: m.container, ip: m.ip, fqdn: m.fqdn, roles: m.spec.roles });
  return {
    runId: p.runId,
    phase,
    depth,
    patches,
    lab: { name: p.machine.lab.name, domain: p.machine.lab.domain, subnet: p.machine.lab.network.subnet },
    target: { name: p.machine.spec.name, ...toSuite(p.machine) },
    machines: Object.fromEntries(p.all.map((m) => [m.spec.name, toSuite(m)])),
    client: { name: client.spec.name, container: client.container },
    caCertPath: p.caCertPath,
  };
}

const outcomeStatus = (r: StepOutcome): StepRecord["status"] => (r.ok ? "passed" : r.blame === "harness" ? "broken" : "failed");

/** What a group of patches needs: the union of its members' requirements. */
export function unionRequirements(rs: Requirements[]): Requirements {
  return {
    phases: [...new Set(rs.flatMap((r) => r.phases))],
    suites: [...new Set(rs.flatMap((r) => r.suites))],
    watchers: [...new Set(rs.flatMap((r) => r.watchers ?? []))],
    restart: rs.some((r) => r.restart),
    // One run serves every member: the deepest any of them needs.
    depth: rs.some((r) => (r.depth ?? "full") === "full") ? "full" : "limited",
    applications: rs.some((r) => r.applications ?? true),
  };
}

export async function runMachinePipeline(p: PipelineInput): Promise<void> {
  const { driver, machine: m, hooks, log } = p;
  const name = m.spec.name;
  const conn = driver.connect(m);
  const deadline = () => Date.now() + p.deadlineMs;
  const t0 = Date.now();
  const reqOf = (a: PatchArtifact) => p.requirements.get(a.patch.id) ?? { phases: ["baseline", "install", "post-install", "uninstall", "post-uninstall"], suites: suitesFor(m), restart: a.patch.restart === "machine" };
  const all = unionRequirements(p.artifacts.map(reqOf));
  // What one run recorded, so the pipeline can judge an aggregate with the gate itself.
  const steps: StepRecord[] = [];
  const suites: SuiteRecord[] = [];

  const step = (r: Omit<StepRecord, "machine">) => {
    const rec = { machine: name, ...r };
    hooks.progress(`${r.step}${r.patch ? ` ${r.patch}` : ""}: ${r.status}`);
    log.info(`step ${r.step}${r.patch ? ` ${r.patch}` : ""}${r.group ? ` [${r.group.join(",")}]` : ""}: ${r.status}`, { step: r.step, ...(r.patch ? { patch: r.patch } : {}), ...(r.group ? { group: r.group } : {}), status: r.status, message: r.message, ms: r.stop - r.start });
    steps.push(rec);
    hooks.step(rec);
  };
  /** Who a record speaks for: one patch alone, or a group. */
  type Scope = { patch: string } | { group: string[] };
  const scopeOf = (ids: string[]): Scope => (ids.length === 1 ? { patch: ids[0]! } : { group: ids });
  const tagOf = (ids: string[]) => (ids.length === 1 ? ids[0]! : `chain-${ids.length}`);

  const runPhase = async (phase: Phase, ids: string[], need: Requirements) => {
    for (const s of need.suites) {
      hooks.progress(`${phase}${ids.length ? ` ${ids.join("+")}` : ""}: suite ${s}`);
      const result = await p.runSuite(s, suiteContext(p, phase, ids.length ? ids : p.artifacts.map((a) => a.patch.id), need.depth ?? "full"), phase, phase === "baseline" ? undefined : tagOf(ids));
      log.info(`suite ${s} ${phase}`, { step: `suite ${phase}`, suite: s, patches: ids, crashed: result.crashed, tests: result.tests.map((t) => `${t.status} ${t.name}`) });
      const rec: SuiteRecord = { machine: name, phase, result, ...(phase === "baseline" ? {} : scopeOf(ids)) };
      suites.push(rec);
      hooks.suite(rec);
    }
  };

  const snap: SnapshotRef = await driver.snapshot(m, `pre-run-${p.runId}`.slice(0, 128), p.runId);
  let before: Fingerprint | undefined;

  /** Restore the snapshot and prove it exact: the rollback check of what was just verified. */
  const restoreExactly = async (ids: string[]): Promise<boolean> => {
    const t = Date.now();
    const scope = scopeOf(ids);
    if (snap.notPossible) {
      // No snapshot (an ssh machine without hooks): the uninstall was the rollback; the snapshot check could not be done.
      const same = diffFingerprints(before!, await fingerprint(conn));
      step({ step: "restore", ...scope, status: "skipped", message: `snapshot check not possible: ${snap.notPossible}${same.equal ? "; after uninstall the fingerprint equals the one before" : `; after uninstall the machine differs: ${same.differences.slice(0, 10).join("; ")}`}`, start: t, stop: Date.now() });
      return same.equal;
    }
    await driver.restore(m, snap, deadline());
    const diff = diffFingerprints(before!, await fingerprint(conn));
    const what = ids.join(", ");
    step({
      step: "restore",
      ...scope,
      status: diff.equal ? "passed" : "broken",
      message: diff.equal ? `restored after ${what}: the state fingerprint equals the one before the run` : `restore after ${what} not exact: ${diff.differences.slice(0, 10).join("; ")}`,
      start: t,
      stop: Date.now(),
    });
    return diff.equal;
  };

  /**
   * Install `group` together (no restart between them), one restart if any needs it, the
   * post-install suites, then uninstall in reverse order and the post-uninstall suites.
   * The restore that follows is the caller's.
   */
  const verify = async (group: PatchArtifact[]): Promise<void> => {
    const ids = group.map((a) => a.patch.id);
    const need = unionRequirements(group.map(reqOf));
    const scope = scopeOf(ids);
    const installed: PatchArtifact[] = [];
    for (const a of group) {
      const t = Date.now();
      if (installed.length < group.indexOf(a)) {
        step({ patch: a.patch.id, ...(ids.length > 1 ? { group: ids } : {}), step: "install", status: "skipped", message: `not installed: an earlier install in the chain failed`, start: t, stop: t });
        continue;
      }
      try {
        const r = await p.provisioner.install(conn, a);
        step({ patch: a.patch.id, ...(ids.length > 1 ? { group: ids } : {}), step: "install", status: outcomeStatus(r), message: r.message, output: r.output, start: t, stop: Date.now() });
        if (r.ok) installed.push(a);
      } catch (e) {
        step({ patch: a.patch.id, ...(ids.length > 1 ? { group: ids } : {}), step: "install", status: "broken", message: asPatchlabError(e).message, start: t, stop: Date.now() });
      }
    }
    // Nothing more can be learned from a chain that did not fully install; the restore resets it.
    if (installed.length < group.length) return;
    if (need.restart) {
      const t = Date.now();
      try {
        await conn.restart(deadline());
        step({ ...scope, step: "restart", status: "passed", message: "machine restarted and ready", start: t, stop: Date.now() });
      } catch (e) {
        const err = asPatchlabError(e);
        // A machine that does not come back after the patch's restart is the patch's failure.
        const status = err instanceof LabError && err.kind === "readiness-timeout" ? "failed" : "broken";
        step({ ...scope, step: "restart", status, message: err.message, start: t, stop: Date.now() });
      }
    }
    if (need.phases.includes("post-install")) await runPhase("post-install", ids, need);
    if (!need.phases.includes("uninstall")) return;
    let removed = true;
    for (const a of [...group].reverse()) {
      const t = Date.now();
      try {
        const r = await p.provisioner.uninstall(conn, a);
        step({ patch: a.patch.id, ...(ids.length > 1 ? { group: ids } : {}), step: "uninstall", status: outcomeStatus(r), message: r.message, output: r.output, start: t, stop: Date.now() });
        removed &&= r.ok;
      } catch (e) {
        const err = asPatchlabError(e);
        step({ patch: a.patch.id, ...(ids.length > 1 ? { group: ids } : {}), step: "uninstall", status: err instanceof PatchlabError && err.exitCode === 1 ? "failed" : "broken", message: err.message, start: t, stop: Date.now() });
        removed = false;
      }
    }
    if (removed && need.phases.includes("post-uninstall")) await runPhase("post-uninstall", ids, need);
  };

  /**
   * The gate's own verdict on one verification of `ids` (their records, with the baseline):
   * whether an aggregate was rejected is the gate's question, not a second set of rules.
   */
  const verdictOf = (ids: string[], need: Requirements) => {
    const mine = (r: { patch?: string; group?: string[] }) => (ids.length === 1 ? r.patch === ids[0] && !r.group : sameSet(r.group, ids));
    const evidence = [...steps.filter(mine).map(stepEvidence), ...suites.filter((r) => r.phase === "baseline" || mine(r)).map(suiteEvidence)];
    const required = requiredOn(name, need).filter((r) => r.name !== "pipeline" && r.name !== "restore");
    return decide({ today: "1970-01-01", patches: [{ patch: ids.join("+"), required, evidence }] }).patches[0]!.verdict;
  };

  let dirty: string | undefined;
  /** Verify each patch alone on the exact machine; returns the ids that were rejected alone. */
  const singles = async (group: PatchArtifact[]): Promise<string[]> => {
    const rejected: string[] = [];
    for (const a of group) {
      if (dirty) {
        step({ patch: a.patch.id, step: "install", status: "skipped", message: `not verified: ${dirty}`, start: Date.now(), stop: Date.now() });
        continue;
      }
      await verify([a]);
      if (verdictOf([a.patch.id], reqOf(a)) === "rejected") rejected.push(a.patch.id);
      if (!(await restoreExactly([a.patch.id]))) dirty = `the machine could not be restored exactly after ${a.patch.id}`;
    }
    return rejected;
  };

  try {
    before = await fingerprint(conn);
    log.info("fingerprint before", { step: "fingerprint", packages: Object.keys(before.packages).length, files: Object.keys(before.files).length, listening: before.listening });
    await runPhase("baseline", [], all);

    if (p.mode === "isolate" || p.artifacts.length === 1) {
      await singles(p.artifacts);
    } else {
      const ids = p.artifacts.map((a) => a.patch.id);
      hooks.progress(`verifying ${ids.length} patches together (${ids.join(", ")})`);
      await verify(p.artifacts);
      const aggregate = verdictOf(ids, all);
      if (!(await restoreExactly(ids))) dirty = `the machine could not be restored exactly after ${ids.join(", ")}`;
      if (aggregate === "rejected" && !dirty) {
        // Which patch, or which combination, breaks it: each alone first.
        hooks.progress(`the aggregate of ${ids.length} patches was rejected; verifying each alone to find the cause`);
        const alone = await singles(p.artifacts);
        const culprits = alone.length ? alone : (await smallestFailingCombination(p.artifacts, async (subset) => {
          if (dirty) return "broken";
          const sub = subset.map((a) => a.patch.id);
          await verify(subset);
          const v = verdictOf(sub, unionRequirements(subset.map(reqOf)));
          if (!(await restoreExactly(sub))) dirty = `the machine could not be restored exactly after ${sub.join(", ")}`;
          return v === "rejected" ? "fail" : v === "approved" ? "pass" : "broken";
        })).map((a) => a.patch.id);
        const message = alone.length
          ? `the aggregate failed; alone, ${alone.join(", ")} fail${alone.length === 1 ? "s" : ""}`
          : culprits.length
            ? `each patch passes alone; together ${culprits.join(" + ")} break it`
            : "the aggregate failed once but neither a patch alone nor any combination failed again (not reproduced: judged on each patch alone)";
        hooks.blame({ machine: name, group: ids, culprits, message });
        hooks.progress(`blame: ${message}`);
      }
    }
    step({ step: "pipeline", status: "passed", message: `finished ${p.artifacts.length} patch(es) (${p.mode}); machine restored`, start: t0, stop: Date.now() });
  } catch (e) {
    // A lab error mid-pipeline: record it (every patch of this machine is undecided), and still put the machine back.
    const err = asPatchlabError(e);
    log.error("pipeline aborted", { step: "pipeline", error: err.message });
    step({ step: "pipeline", status: "broken", message: `pipeline aborted: ${err.message}`, start: t0, stop: Date.now() });
    if (!snap.notPossible) {
      try {
        await driver.restore(m, snap, deadline());
      } catch (e2) {
        log.error("restore after abort failed; snapshot kept for the reaper", { step: "restore", error: (e2 as Error).message });
        throw e2;
      }
    }
  }
  if (!snap.notPossible) await driver.deleteSnapshot(snap);
}

const sameSet = (a: string[] | undefined, b: string[]) => !!a && a.length === b.length && a.every((x) => b.includes(x));

/**
 * The smallest set of patches (pairs first, then triples...) whose aggregate fails, when each
 * passes alone. Evaluations are real runs, so the search stops at the first failing size.
 */
export async function smallestFailingCombination<T>(items: T[], evaluate: (subset: T[]) => Promise<"pass" | "fail" | "broken">): Promise<T[]> {
  for (let size = 2; size < items.length; size++) {
    for (const subset of combinations(items, size)) {
      const r = await evaluate(subset);
      if (r === "fail") return subset;
      if (r === "broken") return [];
    }
  }
  // Only the whole set fails together (or the failure did not reproduce: nobody is blamed).
  return items.length >= 2 && (await evaluate(items)) === "fail" ? items : [];
}

function* combinations<T>(items: T[], size: number, start = 0): Generator<T[]> {
  if (size === 0) {
    yield [];
    return;
  }
  for (let i = start; i <= items.length - size; i++) for (const rest of combinations(items, size - 1, i + 1)) yield [items[i]!, ...rest];
}
