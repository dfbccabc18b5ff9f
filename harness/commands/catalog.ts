// `patchlab catalog import debian [lab] [--suite S] [--mirror URL]` and `patchlab catalog list`.
import { catalogDir, loadCatalog } from "../catalog/catalog.ts";
import { checkMirror, checkSuite } from "../catalog/feed.ts";
import { importDebian, type ImportResult } from "../catalog/import.ts";
import { ConfigError } from "../core/errors.ts";
import { say } from "../core/log.ts";
import { labInventories, selectMachines } from "../inventory/lab-inventory.ts";
import { ScanStore } from "../inventory/store.ts";
import type { MachineInventory } from "../inventory/inventory.ts";
import { withLab } from "./lab.ts";

export interface ImportCommandOptions {
  suite: string;
  mirror?: string;
  /** Use the lab's last stored inventory instead of asking the running machines. */
  fromHistory?: boolean;
}

export async function catalogImport(vendor: string, labRef: string | undefined, o: ImportCommandOptions): Promise<ImportResult> {
  if (vendor !== "debian") throw new ConfigError(`unknown vendor "${vendor}"`, "the only vendor feed is `debian`", { field: "vendor", value: vendor });
  const suite = checkSuite(o.suite);
  const mirror = o.mirror ? checkMirror(o.mirror) : undefined;
  let inventories: MachineInventory[];
  let lab: string;
  if (o.fromHistory) {
    const { loadLab } = await import("../config/loader.ts");
    lab = (await loadLab(labRef ?? "reference")).lab.name;
    const store = new ScanStore();
    try {
      inventories = [...store.latestInventories(lab)].map(([machine, packages]) => ({ machine, roles: [], packages, files: new Map(), commands: new Map(), collectedAt: "" }));
    } finally {
      store.close();
    }
    if (inventories.length === 0) throw new ConfigError(`no stored inventory of lab ${lab}`, `scan it first (\`patchlab scan ${lab}\`) or import without --from-history while the lab is up`);
  } else {
    ({ lab, inventories } = await withLab(labRef, "catalog import", async (s) => {
      const machines = selectMachines(s.lab, s.machines);
      return { lab: s.lab.name, inventories: await labInventories(machines, (m) => s.driver.connect(m)) };
    }));
  }
  say(`lab ${lab}: ${inventories.length} machine(s), ${new Set(inventories.flatMap((i) => [...i.packages.keys()])).size} distinct installed packages`);
  return importDebian({ suite, ...(mirror ? { mirror } : {}), inventories, progress: say });
}

export function formatImport(r: ImportResult): string {
  const rows = r.entries.map((e) => `  ${e.change.padEnd(9)} ${e.id.padEnd(48)} ${e.urgency.padEnd(9)} ${String(e.cves.length).padStart(3)} CVE(s)  ${e.machines.join(",")}`);
  const n = (c: string) => r.entries.filter((e) => e.change === c).length;
  return [
    ...rows,
    `${r.suite} (index of ${r.indexDate}): ${r.entries.length} entries (${n("new")} new, ${n("updated")} updated, ${n("unchanged")} unchanged) in ${catalogDir()}`,
    `downloaded ${r.downloads.files} file(s), ${(r.downloads.bytes / 1e6).toFixed(1)} MB; ${(r.ms / 1000).toFixed(1)} s`,
  ].join("\n");
}

export async function catalogList(): Promise<string> {
  const entries = await loadCatalog();
  return entries.map((e) => `${e.patch.id.padEnd(48)} ${e.patch.severity.padEnd(9)} ${e.patch.apt.suite.padEnd(18)} ${e.patch.cves.length} CVE(s)`).join("\n") || `catalog ${catalogDir()} is empty: run \`patchlab catalog import debian\``;
}
