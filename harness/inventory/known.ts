// The lab's machines as last seen: from the scan history when every machine has an inventory
// there, else collected live from the running lab.
import type { Lab } from "../config/schemas.ts";
import type { MachineInventory } from "./inventory.ts";
import { isInfrastructure, labInventories } from "./lab-inventory.ts";
import { ScanStore } from "./store.ts";

export async function knownInventories(lab: Lab, opts: { live?: boolean } = {}): Promise<{ inventories: MachineInventory[]; from: string }> {
  const wanted = lab.machines.filter((m) => !m.roles.every((r) => r === "updates"));
  if (!opts.live) {
    const store = new ScanStore();
    try {
      const stored = store.latestInventories(lab.name);
      if (wanted.every((m) => stored.has(m.name))) {
        return {
          inventories: wanted.map((m) => ({ machine: m.name, roles: m.roles, packages: stored.get(m.name)!, files: new Map(), commands: new Map(), collectedAt: "" })),
          from: "the last scan",
        };
      }
    } finally {
      store.close();
    }
  }
  const { withLab } = await import("../commands/lab.ts");
  const inventories = await withLab(lab.name, "inventory", async (s) => {
    const ms = s.machines.filter((m) => !isInfrastructure(m));
    return labInventories(ms, (m) => s.driver.connect(m));
  });
  return { inventories, from: "the running machines" };
}
