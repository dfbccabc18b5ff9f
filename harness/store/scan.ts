// A scan stored in whichever store is in use (SQLite or PostgreSQL): the pure scan of
// harness/inventory/scan.ts, with the baseline read from and the result written to the store.
import type { Patch } from "../config/schemas.ts";
import type { MachineInventory } from "../inventory/inventory.ts";
import { buildScan, type ScanResult } from "../inventory/scan.ts";
import type { ScanRecord } from "../inventory/store.ts";
import type { Store } from "./types.ts";

export async function storeScan(lab: string, inventories: MachineInventory[], patches: Patch[], opts: { startedAt: string; baseline: boolean; store: Store }): Promise<ScanResult> {
  const base = await opts.store.baseline(lab);
  let record: ScanRecord | undefined;
  const result = buildScan(lab, inventories, patches, {
    startedAt: opts.startedAt,
    baseline: opts.baseline,
    store: { baseline: () => base, save: (r) => ((record = r), 0) },
  });
  return { ...result, scan: await opts.store.saveScan(record!) };
}
