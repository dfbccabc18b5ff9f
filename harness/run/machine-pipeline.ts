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
import { isDockerMachine } from "../config/schemas.ts";
import { LabError, PatchlabError, asPatchlabError } from "../core/errors.ts";
import type { Logger } from "../core/log.ts";
import { machineState, volatileFor, type MachineState } from "../lab/state.ts";
import type { LabDriver, MachineHandle, SnapshotRef } from "../lab/types.ts";
import type { PatchArtifact, PatchProvisioner } from "../patch/types.ts";
import type { Attachment } from "../patch/check-result.ts";
import { idempotenceCheck, type IdempotencePolicy } from "../patch/idempotence.ts";
import { installCheck, uninstallCheck, type StepCheck } from "../patch/install-check.ts";
import { residueCheckOn, rollbackCheck } from "../patch/residue.ts";
import { applyRestart, decideRestart, labHealthyExcept, scanRestart } from "../patch/restart-detect.ts";
import type { SuiteRunResult, TestOutcome } from "../report/outcome-model.ts";
import { latencyFindings, type BaselineResult, type CheckResult, type MachineWatch, type WatchPolicy } from "../watch/index.ts";
import { decide } from "../gate/gate.ts";
import type { Depth, Phase, SuiteContext } from "./suite-context.ts";
import { suitesFor as suitesForMachine } from "./suites-for.ts";
import { findCulprits, type PartVerdict } from "./culprits.ts";
import { requiredOn, stepEvidence, suiteEvidence, watchEvidence, type Requirements } from "./gate-input.ts";

/** How long a role may take to be ready after an install or uninstall step (PATCHLAB_READY_AFTER_STEP_MS). */
const READY_AFTER_STEP_MS = Number(process.env.PATCHLAB_READY_AFTER_STEP_MS ?? 20_000);
/** How long a machine restart may take until every role is ready again (a TCG VM boots in ~25 s). */
const RESTART_MS = Number(process.env.PATCHLAB_RESTART_MS ?? 120_000);

export type StepKind = "install" | "restart" | "idempotence" | "uninstall" | "residue" | "restore" | "pipeline";

export interface StepRecord {
  machine: string;
  /** The patch the step is about; absent for machine-level steps (the pipeline). */
  patch?: string;
  /** Patches verified together when this was recorded (chained mode): the record serves each. */
  group?: string[];
  step: StepKind;
  status: "passed" | "failed" | "broken" | "skipped";
  message: string;
  /** Installer output, for JUnit and logs. */
  output?: string;
  /** Evidence for the report (installer output, state diffs); not kept in records.jsonl. */
  attachments?: Attachment[];
  start: number;
  stop: number;
}

/** Something a reviewer must know that is not a check's outcome (e.g. a restart needed but not declared). */
export interface Note {
  machine: string;
  patches: string[];
  message: string;
}

/** What one watcher saw on one machine in one phase (logs, counters, latency, soak). */
export interface WatchRecord {
  machine: string;
  patch?: string;
  group?: string[];
  phase: "baseline" | "post-install" | "soak" | "post-uninstall";
  result: CheckResult;
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
  note(n: Note): void;
  watch?(w: WatchRecord): void;
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
  /** A patch applied a second time must change nothing: reject (default), warn, or off. */
  idempotence?: IdempotencePolicy;
  /** Watchers of logs, counters and latency (absent: none), and whether to soak after install. */
  watch?: { make: () => MachineWatch; policy: WatchPolicy; soak: boolean };
  provisioner: PatchProvisioner;
  runId: string;
  runDir: string;
  caCertPath: string;
  log: Logger;
  deadlineMs: number;
  /** Runs one suite; `tag` names the run (patch id or group) for file names. */
  runSuite: (suite: string, ctx: SuiteContext, phase: Phase, tag: string | undefined) => Promise<SuiteRunResult>;
  hooks: PipelineHooks;
  /** Machines this run patches (in parallel with this one): not a control group for lab health. */
  busy?: readonly string[];
  /**
   * Shared by the run's machines: patches found failing alone on one. Another machine whose
   * aggregate fails verifies them apart first (one verification finds what a search would).
   */
  suspects?: Set<string>;
}

/** Suites a machine must pass when nothing narrows them: every role, application and extra suite (see suites-for.ts). */
export function suitesFor(m: MachineHandle): string[] {
  return suitesForMachine(m, { depth: "full", applications: true });
}

export function suiteContext(p: Pick<PipelineInput, "all" | "machine" | "runId" | "caCertPath">, phase: Phase, patches: string[], depth: Depth = "full"): SuiteContext {
  const client = p.all.find((m) => m.spec.roles.includes("client"));
  if (!client) throw new LabError("harness", `lab ${p.machine.lab.name} has no client machine`, "add a machine with role client to the lab file");
  // Suites run from the client machine: a VM's address there is its lab address, not the harness's loopback one.
  const toSuite = (m: MachineHandle) => ({ container: m.container, ip: m.labIp ?? m.ip, fqdn: m.fqdn, roles: m.spec.roles });
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
    idempotence: rs.some((r) => r.idempotence ?? true),
    soak: rs.some((r) => !!r.soak),
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
  const watches: WatchRecord[] = [];

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

  const suitesOf = async (phase: Phase, ids: string[], need: Requirements): Promise<TestOutcome[]> => {
    const outcomes: TestOutcome[] = [];
    for (const s of need.suites) {
      hooks.progress(`${phase}${ids.length ? ` ${ids.join("+")}` : ""}: suite ${s}`);
      const result = await p.runSuite(s, suiteContext(p, phase, ids.length ? ids : p.artifacts.map((a) => a.patch.id), need.depth ?? "full"), phase, phase === "baseline" ? undefined : tagOf(ids));
      log.info(`suite ${s} ${phase}`, { step: `suite ${phase}`, suite: s, patches: ids, crashed: result.crashed, tests: result.tests.map((t) => `${t.status} ${t.name}`) });
      const rec: SuiteRecord = { machine: name, phase, result, ...(phase === "baseline" ? {} : scopeOf(ids)) };
      suites.push(rec);
      hooks.suite(rec);
      outcomes.push(...result.tests);
    }
    return outcomes;
  };
  // The watchers observe each suite phase for (at least) the window the policy sets, alike in every phase.
  const watch = p.watch?.make();
  let watchBase: BaselineResult | undefined;
  let baselineOutcomes: TestOutcome[] = [];
  const recordWatch = (results: CheckResult[], ids: string[]) => {
    for (const result of results) {
      const rec: WatchRecord = { machine: name, phase: result.phase as WatchRecord["phase"], result, ...(result.phase === "baseline" ? {} : scopeOf(ids)) };
      watches.push(rec);
      hooks.watch?.(rec);
    }
  };
  const runPhase = async (phase: Phase, ids: string[], need: Requirements): Promise<TestOutcome[]> => {
    if (!watch) return suitesOf(phase, ids, need);
    const during = suitesOf(phase, ids, need);
    if (phase === "baseline") {
      const [outcomes, base] = await Promise.all([during, watch.baseline(during)]);
      watchBase = base;
      baselineOutcomes = outcomes;
      recordWatch(base.results, ids);
      return outcomes;
    }
    const [outcomes, results] = await Promise.all([during, watch.phase(phase, watchBase?.baselines ?? {}, during)]);
    // The suites' own service latency against the baseline's: slower answers are a finding even when every check passed.
    const latency = results.find((r) => r.name === "latency");
    // A suite check is timed once per phase: one slow answer on a busy host is noise unless the
    // machine's own repeated probes agree. Uncorroborated, it is shown but does not reject.
    const probesSlower = !latency || latency.findings.some((f) => f.rejects);
    const slower = latencyFindings(baselineOutcomes, outcomes, p.watch!.policy).map((f) =>
      probesSlower || !f.rejects ? f : { ...f, rejects: false, severity: "warning" as const, message: `${f.message}; the machine's own probes answered as in the baseline, so this one slow answer is noted, not held against the patch` },
    );
    if (slower.length) {
      if (latency) latency.findings.push(...slower);
      else results.push({ name: "latency", machine: name, phase, findings: slower });
    }
    recordWatch(results, ids);
    return outcomes;
  };

  const snap: SnapshotRef = await driver.snapshot(m, `pre-run-${p.runId}`.slice(0, 128), p.runId);
  const volatile = volatileFor(m);
  let before: MachineState | undefined;
  // A container's restores share its filesystem lineage (image layers): hashes of unchanged files carry over.
  const fsToken = isDockerMachine(m.spec) ? `container-layers:${m.container}` : undefined;
  const stateOpts = { volatile, ...(fsToken ? { fsToken } : {}) };
  const stateNow = (since?: MachineState) => machineState(conn, { ...stateOpts, ...(since ? { since } : {}) });
  // After an install or uninstall the services were already running or restarted by the step
  // itself: a role not ready within this is a finding, not something to wait minutes for.
  const readyAfterStep = (dl: number) => conn.waitUntilReady(Math.min(dl, Date.now() + READY_AFTER_STEP_MS));
  const labHealthy = () => labHealthyExcept(driver, m.lab, name, p.busy ?? []);

  /** Restore the snapshot and prove it exact: the rollback check of what was just verified. */
  const restoreExactly = async (ids: string[]): Promise<boolean> => {
    const t = Date.now();
    const scope = scopeOf(ids);
    if (snap.notPossible) {
      // No snapshot (an ssh machine without hooks): the uninstall was the rollback; the snapshot check could not be done.
      const same = rollbackCheck(before!, await stateNow(before), { machine: name });
      step({ step: "restore", ...scope, status: "skipped", message: `snapshot check not possible: ${snap.notPossible}; after uninstall: ${same.message}`, attachments: same.attachments, start: t, stop: Date.now() });
      return same.status === "passed";
    }
    await driver.restore(m, snap, deadline());
    const restored = Date.now();
    const r = rollbackCheck(before!, await stateNow(before), { machine: name, patch: ids.join(", ") });
    // Restore until ready, apart from the rollback check's state capture (the bench and docs/scale.md read this).
    log.info("restore timing", { step: "restore", restoreMs: restored - t, stateMs: Date.now() - restored });
    step({ step: "restore", ...scope, status: r.status, message: r.message, attachments: r.attachments, start: t, stop: Date.now() });
    return r.status === "passed";
  };

  /**
   * Install `group` together (no restart between them; each install checked: exit code,
   * detection, disk, services), then one restart of whatever the patches need (declared, or
   * found: processes still running replaced code), the post-install suites, each patch
   * applied again (idempotence), uninstall in reverse order, residue against the state before
   * install, and the post-uninstall suites. The restore that follows is the caller's.
   */
  const verify = async (group: PatchArtifact[]): Promise<void> => {
    const ids = group.map((a) => a.patch.id);
    const need = unionRequirements(group.map(reqOf));
    const scope = scopeOf(ids);
    const inGroup = ids.length > 1 ? { group: ids } : {};
    // The restore after this verification need not wait for a boot: a standby starts now.
    if (!snap.notPossible) driver.prepareRestore?.(m, snap);
    // The harness's own upkeep (apt sources) happens before the state the residue is judged against.
    await p.provisioner.prepare?.(conn, group);
    // Independent reads of the same quiet machine: at once.
    const [beforeInstall, beforeScan] = await Promise.all([stateNow(before), scanRestart(conn)]);
    let prev = beforeInstall;
    let restartRequired = false;
    const installed: PatchArtifact[] = [];
    // Patches of a kind that can (apt) go in as one transaction, as in production; a failed one
    // fails the aggregate and the culprit search verifies smaller parts.
    const together = group.length > 1 ? p.provisioner.combine?.(conn, group) : undefined;
    /** Each patch's record of a combined step: the transaction's result, then its own detection. */
    const eachOf = async (kind: "install" | "uninstall", r: StepCheck, t: number): Promise<boolean> => {
      let all = true;
      for (const [i, a] of group.entries()) {
        let status = r.status;
        let message = `${kind === "install" ? "installed" : "removed"} in one transaction with ${ids.filter((x) => x !== a.patch.id).join(", ")}: ${r.message}`;
        if (status === "passed") {
          const want = kind === "install";
          const detected = await p.provisioner.isInstalled(conn, a).then((d) => d, (e: unknown) => asPatchlabError(e));
          if (detected instanceof Error) [status, message] = ["broken", `detection of ${a.patch.id} after the ${kind} could not run: ${detected.message}`];
          else if (detected !== want) [status, message] = ["failed", `the ${kind} transaction succeeded but detection says ${a.patch.id} is ${detected ? "still installed" : "not installed"}`];
        }
        all &&= status === "passed";
        // The transaction's output and state diff once, on the first patch's record.
        step({ patch: a.patch.id, ...inGroup, step: kind, status, message, ...(i === 0 && r.outcome?.output ? { output: r.outcome.output } : {}), attachments: i === 0 ? r.attachments : [], start: t, stop: Date.now() });
      }
      return all;
    };
    if (together) {
      const t = Date.now();
      const r = await installCheck(conn, p.provisioner, together, { before: prev, state: stateOpts, ready: readyAfterStep, deadline: deadline(), labHealthy, checkServices: !need.restart });
      if (await eachOf("install", r, t)) installed.push(...group);
      prev = r.after ?? prev;
      restartRequired ||= !!r.outcome?.restartRequired;
    }
    for (const a of together ? [] : group) {
      const t = Date.now();
      if (installed.length < group.indexOf(a)) {
        step({ patch: a.patch.id, ...inGroup, step: "install", status: "skipped", message: `not installed: an earlier install in the chain failed`, start: t, stop: t });
        continue;
      }
      const r = await installCheck(conn, p.provisioner, a, { before: prev, state: stateOpts, ready: readyAfterStep, deadline: deadline(), labHealthy, checkServices: !need.restart });
      step({ patch: a.patch.id, ...inGroup, step: "install", status: r.status, message: r.message, ...(r.outcome?.output ? { output: r.outcome.output } : {}), attachments: r.attachments, start: t, stop: Date.now() });
      // Installed but a check failed (a service left stopped): the patch is on the machine, so the
      // suites still show what users would see; the failed install check already rejects it.
      if (!r.outcome?.ok || r.detected === false) continue;
      installed.push(a);
      prev = r.after ?? prev;
      restartRequired ||= !!r.outcome?.restartRequired;
    }
    // Nothing more can be learned from a chain that did not fully install; the restore resets it.
    if (installed.length < group.length) return;

    // One restart for the whole group: what the manifests declare, or what the machine shows.
    let t = Date.now();
    const decision = decideRestart(await scanRestart(conn), { declared: need.restart ? "machine" : "none", installerSaysRestart: restartRequired, before: beforeScan, artifacts: group });
    const restart = await applyRestart(conn, decision, { restartMachine: (dl) => conn.restart(Math.min(dl, Date.now() + RESTART_MS)), ready: readyAfterStep, labHealthy }, { deadline: deadline() });
    const undeclared = decision.undeclared ? `restart needed but not declared${decision.causedBy.length ? ` by ${decision.causedBy.join(", ")}` : ""}: ${decision.reasons.join("; ")}` : "";
    step({ ...scope, step: "restart", status: restart.status === "skipped" ? "passed" : restart.status, message: [restart.message, undeclared].filter(Boolean).join("; "), ...(restart.output ? { output: restart.output } : {}), start: t, stop: Date.now() });
    if (undeclared) hooks.note({ machine: name, patches: decision.causedBy.length ? decision.causedBy : ids, message: `${name}: ${undeclared} (the harness restarted ${restart.restarted.join(", ") || "nothing"})` });

    if (need.phases.includes("post-install")) {
      const after = await runPhase("post-install", ids, need);
      // The soak: something that breaks only after the immediate checks passed.
      if (watch && watchBase && p.watch!.soak) {
        hooks.progress(`soak ${ids.join("+")}: ${p.watch!.policy.soak.seconds} s`);
        const limited = { ...need, depth: "limited" as const };
        const soak = await watch.soak(watchBase.baselines, {
          reference: after,
          runLimitedSuites: async () => (await Promise.all(limited.suites.map((s) => p.runSuite(s, suiteContext(p, "post-install", ids, "limited"), "post-install", `${tagOf(ids)}-soak`)))).flatMap((r) => r.tests),
        });
        recordWatch(soak.results, ids);
      }
    }

    // Applying each patch again must change nothing.
    if (p.idempotence !== "off") {
      for (const a of group) {
        t = Date.now();
        const r = await idempotenceCheck(conn, p.provisioner, a, { state: stateOpts, policy: p.idempotence ?? "reject" });
        step({ patch: a.patch.id, ...inGroup, step: "idempotence", status: r.status, message: r.message, attachments: r.attachments, start: t, stop: Date.now() });
      }
    }
    if (!need.phases.includes("uninstall")) return;
    let removed = true;
    let prevU = await stateNow(beforeInstall);
    if (together) {
      t = Date.now();
      const r = await uninstallCheck(conn, p.provisioner, together, { before: prevU, state: stateOpts, ready: readyAfterStep, deadline: deadline(), labHealthy });
      removed = (await eachOf("uninstall", r, t)) && !!r.outcome?.ok && r.detected !== true;
    }
    for (const a of together ? [] : [...group].reverse()) {
      t = Date.now();
      const r = await uninstallCheck(conn, p.provisioner, a, { before: prevU, state: stateOpts, ready: readyAfterStep, deadline: deadline(), labHealthy });
      step({ patch: a.patch.id, ...inGroup, step: "uninstall", status: r.status, message: r.message, ...(r.outcome?.output ? { output: r.outcome.output } : {}), attachments: r.attachments, start: t, stop: Date.now() });
      removed &&= !!r.outcome?.ok && r.detected !== true;
      prevU = r.after ?? prevU;
    }
    if (!removed) return;
    // A downgrade replaces libraries again: restart what still runs the patched code (not evidence, upkeep).
    const again = decideRestart(await scanRestart(conn), { declared: "none", before: beforeScan });
    if (again.needed !== "none") {
      const r = await applyRestart(conn, again, { restartMachine: (dl) => conn.restart(Math.min(dl, Date.now() + RESTART_MS)), ready: readyAfterStep, labHealthy }, { deadline: deadline() });
      log.info("restart after uninstall", { step: "uninstall", status: r.status, message: r.message });
    }
    // What the uninstall left behind: the state now against the state before the first install.
    t = Date.now();
    const residue = await residueCheckOn(conn, beforeInstall, ids.join(", "), stateOpts);
    step({ ...scope, step: "residue", status: residue.status, message: residue.message, attachments: residue.attachments, start: t, stop: Date.now() });
    if (need.phases.includes("post-uninstall")) await runPhase("post-uninstall", ids, need);
  };

  /**
   * The gate's own verdict on one verification of `ids` (their records, with the baseline):
   * whether an aggregate was rejected is the gate's question, not a second set of rules.
   */
  const verdictOf = (ids: string[], need: Requirements) => {
    const mine = (r: { patch?: string; group?: string[] }) => (ids.length === 1 ? r.patch === ids[0] && !r.group : sameSet(r.group, ids));
    const evidence = [...steps.filter(mine).map(stepEvidence), ...suites.filter((r) => r.phase === "baseline" || mine(r)).map(suiteEvidence), ...watches.filter((r) => r.phase === "baseline" || mine(r)).map(watchEvidence)];
    const required = requiredOn(name, need).filter((r) => r.name !== "pipeline" && r.name !== "restore");
    return decide({ today: "1970-01-01", patches: [{ patch: ids.join("+"), required, evidence }] }).patches[0]!.verdict;
  };

  let dirty: string | undefined;
  const notVerified = (ids: string[]) => {
    for (const id of ids) step({ patch: id, step: "install", status: "skipped", message: `not verified: ${dirty}`, start: Date.now(), stop: Date.now() });
  };
  /** Verify `ids` together (one patch: alone) on the exact machine, then restore it: the gate's verdict of that verification. */
  const verifyPart = async (ids: string[]): Promise<PartVerdict> => {
    if (dirty) {
      notVerified(ids);
      return "needs-review";
    }
    const group = ids.map((id) => p.artifacts.find((a) => a.patch.id === id)!);
    await verify(group);
    const decided = verdictOf(ids, unionRequirements(group.map(reqOf)));
    const v: PartVerdict = decided === "approved" || decided === "rejected" ? decided : "needs-review";
    if (!(await restoreExactly(ids))) dirty = `the machine could not be restored exactly after ${ids.join(", ")}`;
    return v;
  };

  try {
    before = await stateNow();
    log.info("state before", { step: "state", packages: Object.keys(before.packages).length, files: Object.keys(before.files).length, listening: before.listening });
    await runPhase("baseline", [], all);

    if (p.mode === "isolate" || p.artifacts.length === 1) {
      for (const a of p.artifacts) await verifyPart([a.patch.id]);
    } else {
      const ids = p.artifacts.map((a) => a.patch.id);
      hooks.progress(`verifying ${ids.length} patches together (${ids.join(", ")})`);
      const aggregate = await verifyPart(ids);
      if (aggregate === "rejected" && !dirty) {
        const known = ids.filter((id) => p.suspects?.has(id));
        hooks.progress(`the aggregate of ${ids.length} patches was rejected; finding the cause${known.length ? ` (${known.join(", ")} failed alone on another machine: verified apart first)` : ""}`);
        const found = await findCulprits(ids, verifyPart, { ...(p.suspects ? { suspects: p.suspects } : {}) });
        for (const id of found.alone) p.suspects?.add(id);
        for (const b of found.blames) hooks.blame({ machine: name, ...b });
        hooks.progress(`blame (${found.evaluations} verification(s)): ${found.blames[0]?.message ?? "none"}`);
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

