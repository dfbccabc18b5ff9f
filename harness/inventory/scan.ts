// A scan: each machine's inventory against every catalog entry (and any other manifests),
// stored in the history, with its results as a table, JSON and Allure results.
import fs from "node:fs";
import path from "node:path";
import type { Patch } from "../config/schemas.ts";
import { writeAllureResult } from "../report/lifecycle.ts";
import { inventoryNeeds, rulesOf, scanInventory, supersessions, type EntryResult, type ScanTarget } from "./detect.ts";
import type { MachineInventory } from "./inventory.ts";
import type { ScanStore } from "./store.ts";

export interface ScanResult {
  scan: number | undefined;
  lab: string;
  startedAt: string;
  finishedAt: string;
  baseline: boolean;
  patches: { id: string; title: string; severity: string; kind: string; source?: string; version?: string; cves: string[] }[];
  machines: { machine: string; roles: string[]; results: (EntryResult & { sinceBaseline?: "new" | "fixed" })[] }[];
}

export function targetsOf(patches: Patch[]): ScanTarget[] {
  return patches.map((patch) => ({ patch, rules: rulesOf(patch) }));
}

export { inventoryNeeds };

/** Pure part of a scan: evaluate every target on every inventory. */
export function evaluateScan(inventories: MachineInventory[], targets: ScanTarget[]): { machine: string; roles: string[]; results: EntryResult[] }[] {
  const sup = supersessions(targets);
  return inventories.map((inv) => ({ machine: inv.machine, roles: inv.roles, results: scanInventory(inv, targets, sup) }));
}

export function buildScan(
  lab: string,
  inventories: MachineInventory[],
  patches: Patch[],
  opts: { startedAt: string; baseline: boolean; store?: Pick<ScanStore, "baseline" | "save"> },
): ScanResult {
  const targets = targetsOf(patches);
  const machines = evaluateScan(inventories, targets);
  const finishedAt = new Date().toISOString();
  const meta = patches.map((p) => ({
    id: p.id,
    title: p.title,
    severity: p.severity,
    kind: p.kind,
    ...(p.kind === "apt" ? { source: p.apt.source, version: p.apt.version } : {}),
    cves: p.cves,
  }));
  const base = opts.store?.baseline(lab);
  const withDelta = machines.map((m) => ({
    ...m,
    results: m.results.map((r) => {
      const was = base?.get(`${m.machine}\u0000${r.patch}`);
      const sinceBaseline: "new" | "fixed" | undefined = base === undefined || opts.baseline ? undefined : r.status === "missing" && was !== "missing" ? "new" : r.status !== "missing" && was === "missing" ? "fixed" : undefined;
      return sinceBaseline ? { ...r, sinceBaseline } : r;
    }),
  }));
  const scan = opts.store?.save({
    lab,
    startedAt: opts.startedAt,
    finishedAt,
    baseline: opts.baseline,
    patches: meta,
    machines: machines.map((m) => ({ machine: m.machine, packages: inventories.find((i) => i.machine === m.machine)!.packages, results: m.results })),
  });
  return { scan, lab, startedAt: opts.startedAt, finishedAt, baseline: opts.baseline, patches: meta, machines: withDelta };
}

const CELL: Record<string, string> = { installed: "ok", missing: "MISSING", "not-applicable": "-" };

/** Entries x machines; only entries that apply somewhere (the rest are counted). */
export function formatScan(s: ScanResult): string {
  const names = s.machines.map((m) => m.machine);
  const rows = s.patches
    .map((p) => ({ p, cells: s.machines.map((m) => m.results.find((r) => r.patch === p.id)) }))
    .filter((r) => r.cells.some((c) => c && c.status !== "not-applicable"));
  const idW = Math.max(5, ...rows.map((r) => r.p.id.length));
  const colW = names.map((n) => Math.max(n.length, 7));
  const head = `${"PATCH".padEnd(idW)}  ${"SEVERITY".padEnd(9)} ${names.map((n, i) => n.padEnd(colW[i]!)).join(" ")}`;
  const lines = rows.map(
    (r) => `${r.p.id.padEnd(idW)}  ${r.p.severity.padEnd(9)} ${r.cells.map((c, i) => `${c ? CELL[c.status] : "?"}${c && "sinceBaseline" in c && c.sinceBaseline === "new" ? "*" : ""}`.padEnd(colW[i]!)).join(" ")}`,
  );
  const sums = s.machines.map((m) => {
    const n = (st: string) => m.results.filter((r) => r.status === st).length;
    return `  ${m.machine}: ${n("missing")} missing, ${n("installed")} installed, ${n("not-applicable")} not applicable`;
  });
  const hidden = s.patches.length - rows.length;
  return [
    head,
    ...lines,
    "",
    `scan ${s.scan ?? "(not stored)"} of lab ${s.lab} at ${s.finishedAt}${s.baseline ? " (baseline)" : ""}: ${s.patches.length} patch(es) x ${s.machines.length} machine(s)${hidden ? `; ${hidden} apply to no machine (not shown)` : ""}`,
    ...sums,
  ].join("\n");
}

/** One Allure result per machine and patch: passed = installed, failed = missing, skipped = not applicable. */
export function writeScanAllure(dir: string, s: ScanResult): string {
  const resultsDir = path.join(dir, "allure-results");
  fs.mkdirSync(resultsDir, { recursive: true });
  const t = Date.parse(s.finishedAt);
  for (const m of s.machines) {
    for (const r of m.results) {
      const p = s.patches.find((x) => x.id === r.patch)!;
      writeAllureResult(resultsDir, {
        name: `${r.patch} on ${m.machine}`,
        fullName: `patchlab:scan: ${r.patch} > ${m.machine}`,
        status: r.status === "installed" ? "passed" : r.status === "missing" ? "failed" : "skipped",
        message: `${r.status}: ${r.detail}`,
        start: Date.parse(s.startedAt),
        stop: t,
        labels: { parentSuite: "scan", suite: s.lab, subSuite: m.machine, feature: "compliance", machine: m.machine, host: m.machine, patch: r.patch, severity: p.severity === "critical" ? "critical" : p.severity === "important" ? "major" : p.severity === "moderate" ? "normal" : "minor", ...(p.source ? { package: p.source } : {}) },
        parameters: { machine: m.machine, patch: r.patch },
      });
    }
  }
  return resultsDir;
}
