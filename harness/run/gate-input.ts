// From a run's records to the gate's input: what each patch required (from the plan, or the
// default: every suite of every target machine in every phase, every lifecycle step) and the
// evidence the pipelines recorded for it. Pure, so the attribution is unit-tested.
import type { Evidence, GateInput, GatePhase, PatchInput, Required } from "../gate/schema.ts";
import type { Waiver } from "../gate/waivers.ts";
import type { MachineHandle } from "../lab/types.ts";
import type { PatchArtifact } from "../patch/types.ts";
import type { Blame, Note, StepRecord, SuiteRecord, WatchRecord } from "./machine-pipeline.ts";
import { toWatchEvidence } from "../watch/evidence.ts";

/** Phases a plan can ask for (the catalog's plan.json; see harness/plan/). */
export type PlanPhase = "baseline" | "install" | "post-install" | "uninstall" | "post-uninstall";
export const ALL_PHASES: PlanPhase[] = ["baseline", "install", "post-install", "uninstall", "post-uninstall"];

/** What one patch must show on one machine. */
export interface Requirements {
  phases: PlanPhase[];
  /** Suites (e.g. "roles/web", "apps/dokuwiki/edit") required in each suite phase. */
  suites: string[];
  /** Watchers required in each suite phase. */
  watchers?: string[];
  restart: boolean;
  /** Depth of the role suites (limited: one smoke check per role). */
  depth?: "limited" | "full";
  /** Whether the application (line-of-business) suites are required. */
  applications?: boolean;
  /** Whether applying the patch twice is checked (default true). */
  idempotence?: boolean;
  /** Whether the soak's watchers are required after install. */
  soak?: boolean;
}

const SUITE_PHASES: PlanPhase[] = ["baseline", "post-install", "post-uninstall"];
export const suiteShortName = (suite: string) => suite.split("/").pop()!.replace(/(\.spec)?\.[cm]?[jt]s$/, "");

/** The required results of one patch on one machine. */
export function requiredOn(machine: string, r: Requirements): Required[] {
  const out: Required[] = [];
  const step = (phase: GatePhase, name: string = phase) => out.push({ machine, phase, kind: "step", name });
  if (r.phases.includes("install")) {
    step("install");
    // The restart step always says something: what was restarted, or that nothing needed it.
    step("restart");
    if (r.idempotence !== false) step("idempotence");
  }
  if (r.phases.includes("uninstall")) {
    step("uninstall");
    step("uninstall", "residue");
  }
  // The rollback (restore to the snapshot, proven exact) and the machine's whole pipeline are always required.
  step("restore");
  step("pipeline");
  for (const phase of SUITE_PHASES.filter((p) => r.phases.includes(p))) {
    // A machine nothing checks is never approved by its silence.
    if (r.suites.length === 0) out.push({ machine, phase, kind: "suite", name: "(no suite for this machine)" });
    for (const s of r.suites) out.push({ machine, phase, kind: "suite", name: suiteShortName(s) });
    for (const w of r.watchers ?? []) out.push({ machine, phase, kind: "watch", name: w });
  }
  if (r.soak && r.phases.includes("post-install")) {
    for (const w of [...(r.watchers ?? []), "soak"]) out.push({ machine, phase: "soak", kind: "watch", name: w });
  }
  return out;
}

const STEP_PHASE: Record<StepRecord["step"], GatePhase> = {
  install: "install",
  restart: "restart",
  idempotence: "idempotence",
  uninstall: "uninstall",
  residue: "uninstall",
  restore: "restore",
  pipeline: "pipeline",
};

export const stepEvidence = (s: StepRecord): Evidence => ({ kind: "step", machine: s.machine, phase: STEP_PHASE[s.step], name: s.step, status: s.status, ...(s.message ? { message: s.message } : {}) });
export const suiteEvidence = (s: SuiteRecord): Evidence => ({ kind: "suite", machine: s.machine, phase: s.phase, name: s.result.suite, result: s.result });
export const watchEvidence = (w: WatchRecord): Evidence => toWatchEvidence({ ...w.result, machine: w.machine, phase: w.phase });

/**
 * Whether a record speaks for `patch`: its own single-patch records, the records of a group it
 * was verified in (unless a blame after that group's rejection put the failure on others: then
 * its own single runs decide), and the machine's records that serve every patch (baseline,
 * pipeline).
 */
export function speaksFor(patch: string, r: { patch?: string; group?: string[]; machine: string }, blames: Blame[] = []): boolean {
  if (r.group) {
    if (!r.group.includes(patch)) return false;
    // A chain's per-patch step (an install, an uninstall) is about that patch only.
    if (r.patch !== undefined && r.patch !== patch) return false;
    const cleared = blames.some((b) => b.machine === r.machine && sameSet(b.group, r.group!) && !b.culprits.includes(patch));
    return !cleared;
  }
  return r.patch === undefined || r.patch === patch;
}

const sameSet = (a: string[], b: string[]) => a.length === b.length && a.every((x) => b.includes(x));

/** Evidence one patch may use on its machines. */
export function evidenceFor(patch: string, machines: string[], steps: StepRecord[], suites: SuiteRecord[], blames: Blame[] = [], watches: WatchRecord[] = []): Evidence[] {
  const mine = (r: StepRecord | SuiteRecord | WatchRecord) => machines.includes(r.machine) && speaksFor(patch, r, blames);
  return [...steps.filter(mine).map(stepEvidence), ...suites.filter(mine).map(suiteEvidence), ...watches.filter(mine).map(watchEvidence)];
}

export interface PatchTargets {
  artifact: PatchArtifact;
  /** Machines that receive the patch, with what it must show on each. */
  targets: { machine: MachineHandle; requirements: Requirements }[];
  /** Set when the plan says no lab machine has what the patch updates. */
  notApplicable?: string;
  /** Why no machine verified it (no machine has its roles; the run died before targets were known). */
  noTarget?: { status: "skipped" | "broken"; message: string };
  testedWith?: string[];
}

export function buildGateInput(
  patches: PatchTargets[],
  steps: StepRecord[],
  suites: SuiteRecord[],
  opts: { today: string; waivers: Waiver[]; blames?: Blame[]; notes?: Note[]; watches?: WatchRecord[] },
): GateInput {
  const watches = opts.watches ?? [];
  const blames = opts.blames ?? [];
  const extra = opts.notes ?? [];
  return {
    schemaVersion: 2,
    today: opts.today,
    waivers: opts.waivers,
    patches: patches.map((p): PatchInput => {
      const id = p.artifact.patch.id;
      const names = p.targets.map((t) => t.machine.spec.name);
      // Patches installed together with this one on any of its machines, and what blame said.
      const together = [...new Set([...steps, ...suites, ...watches].filter((r) => r.group?.includes(id) && names.includes(r.machine)).flatMap((r) => r.group!))].filter((x) => x !== id);
      const notes = [
        ...blames.filter((b) => b.group.includes(id) && names.includes(b.machine)).map((b) => `${b.machine}: ${b.message}`),
        ...extra.filter((n) => n.patches.includes(id) && names.includes(n.machine)).map((n) => n.message),
      ];
      const base = {
        patch: id,
        title: p.artifact.patch.title,
        severity: p.artifact.patch.severity,
        payload: p.artifact.payload,
        testedWith: p.testedWith ?? together,
        ...(notes.length ? { notes } : {}),
      };
      if (p.notApplicable !== undefined) return { ...base, applicable: false, notApplicableReason: p.notApplicable, required: [], evidence: [] };
      if (p.targets.length === 0) {
        // Nothing verified it: the pipeline it needed is required and says why it never ran.
        const why = p.noTarget ?? { status: "skipped" as const, message: "no lab machine received this patch" };
        return {
          ...base,
          applicable: true,
          required: [{ machine: "(none)", phase: "pipeline", kind: "step", name: "pipeline" }],
          evidence: [{ kind: "step", machine: "(none)", phase: "pipeline", name: "pipeline", status: why.status, message: why.message }],
        };
      }
      return {
        ...base,
        applicable: true,
        required: p.targets.flatMap((t) => requiredOn(t.machine.spec.name, t.requirements)),
        evidence: evidenceFor(id, names, steps, suites, blames, watches),
      };
    }),
  };
}

/** Today as the gate sees it (UTC date): the one clock reading, taken by the caller. */
export const todayUtc = (now = new Date()) => now.toISOString().slice(0, 10);
