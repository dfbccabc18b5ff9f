// `patchlab scan [lab]`, `patchlab scan history`, `patchlab schedule scan --cron`.
import path from "node:path";
import { Cron } from "croner";
import { loadCatalog } from "../catalog/catalog.ts";
import { ConfigError, asPatchlabError } from "../core/errors.ts";
import { say } from "../core/log.ts";
import { reportsRoot } from "../core/paths.ts";
import { labInventories, selectMachines } from "../inventory/lab-inventory.ts";
import { buildScan, inventoryNeeds, targetsOf, writeScanAllure, type ScanResult } from "../inventory/scan.ts";
import { ScanStore, type HistoryRow } from "../inventory/store.ts";
import { withLab } from "./lab.ts";

export interface ScanCommandOptions {
  machine?: string[];
  machinesFile?: string;
  baseline?: boolean;
}

export async function scanCommand(labRef: string | undefined, o: ScanCommandOptions): Promise<ScanResult & { allureResults: string }> {
  const entries = await loadCatalog();
  if (entries.length === 0) say("the catalog is empty: every machine will show nothing missing; run `patchlab catalog import debian` first");
  const patches = entries.map((e) => e.patch);
  const startedAt = new Date().toISOString();
  return withLab(labRef, "scan", async (s) => {
    const machines = selectMachines(s.lab, s.machines, o.machine, o.machinesFile);
    const inventories = await labInventories(machines, (m) => s.driver.connect(m), inventoryNeeds(targetsOf(patches)));
    const store = new ScanStore();
    try {
      const scan = buildScan(s.lab.name, inventories, patches, { startedAt, baseline: !!o.baseline, store });
      const allureResults = writeScanAllure(path.join(reportsRoot(), "scans", `${s.lab.name}-${scan.scan}`), scan);
      return { ...scan, allureResults };
    } finally {
      store.close();
    }
  });
}

export function scanHistory(labRef: string | undefined, machines?: string[]): HistoryRow[] {
  const store = new ScanStore();
  try {
    return store.history(labRef, machines);
  } finally {
    store.close();
  }
}

export function formatHistory(rows: HistoryRow[]): string {
  if (rows.length === 0) return "no scans stored yet: run `patchlab scan`";
  const lines = rows.map((r) => {
    const applicable = r.installed + r.missing;
    const pct = applicable ? ((100 * r.installed) / applicable).toFixed(0) + "%" : "n/a";
    return `${String(r.scan).padStart(5)}  ${r.at}  ${r.machine.padEnd(10)} ${pct.padStart(5)}  ${String(r.missing).padStart(4)} missing ${String(r.installed).padStart(4)} installed ${String(r.notApplicable).padStart(4)} n/a${r.baseline ? "  (baseline)" : ""}${r.context ? `  (${r.context})` : ""}`;
  });
  return [`${"SCAN".padStart(5)}  ${"AT".padEnd(24)}  ${"MACHINE".padEnd(10)} COMPLIANT`, ...lines].join("\n");
}

/** Runs scans on a cron schedule in the foreground until stopped; a failed scan is reported and the schedule goes on. */
export async function scheduleScan(
  labRef: string | undefined,
  cron: string,
  o: ScanCommandOptions & { maxRuns?: number },
  scan: (labRef: string | undefined, o: ScanCommandOptions) => Promise<ScanResult> = scanCommand,
): Promise<void> {
  let job: Cron;
  try {
    job = new Cron(cron, { paused: true, protect: true });
  } catch (e) {
    throw new ConfigError(`--cron "${cron}" is not a cron expression: ${(e as Error).message}`, 'use five fields: minute hour day-of-month month day-of-week, e.g. "0 3 * * *"', { field: "--cron", value: cron });
  }
  job.stop();
  let runs = 0;
  await new Promise<void>((resolve) => {
    const j = new Cron(cron, { protect: true, ...(o.maxRuns ? { maxRuns: o.maxRuns } : {}) }, async () => {
      runs++;
      try {
        const r = await scan(labRef, o);
        const missing = r.machines.reduce((n, m) => n + m.results.filter((x) => x.status === "missing").length, 0);
        say(`scheduled scan ${r.scan}: ${missing} missing update(s) across ${r.machines.length} machine(s)`);
      } catch (e) {
        say(`scheduled scan failed (the schedule goes on): ${asPatchlabError(e).message}`);
      }
      if (o.maxRuns && runs >= o.maxRuns) resolve();
    });
    say(`scanning lab ${labRef ?? "reference"} on "${cron}"; next at ${j.nextRun()?.toISOString() ?? "never"} (Ctrl-C stops)`);
  });
}
