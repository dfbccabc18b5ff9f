// Small builders for apt patches and machine inventories in unit tests.
import type { AptPatch } from "../../../harness/config/schemas.ts";
import type { MachineInventory } from "../../../harness/inventory/inventory.ts";

export function aptPatch(id: string, source: string, version: string, pkgs: string[], extra: Partial<AptPatch> = {}, aptExtra: Partial<AptPatch["apt"]> = {}): AptPatch {
  return {
    id,
    title: `${source} ${version}`,
    vendor: "debian",
    severity: "moderate",
    cves: [],
    restart: "none",
    kind: "apt",
    apt: { suite: "bookworm-security", source, version, supersedes: [], packages: pkgs.map((name) => ({ name, version, architecture: "amd64", sha256: "0".repeat(64) })), ...aptExtra },
    ...extra,
  };
}

export function inv(machine: string, pkgs: Record<string, string>, roles = ["web"], more: Partial<MachineInventory> = {}): MachineInventory {
  return { machine, roles, packages: new Map(Object.entries(pkgs).map(([n, v]) => [n, { version: v, arch: "amd64", source: n }])), files: new Map(), commands: new Map(), collectedAt: "", ...more };
}

