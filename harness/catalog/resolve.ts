// What the update server must carry for an apt patch on a machine: the update's packages the
// machine has, every dependency the machine cannot already satisfy (resolved in the signed
// indexes), and the versions the machine has now of everything that changes (for the
// downgrade). What cannot be found is reported by name, never guessed.
import type { MachineInventory } from "../inventory/inventory.ts";
import { formatDepAtom, parseDepends, type DepAtom } from "./deb822.ts";
import { compareDebVersions, satisfies } from "./debversion.ts";
import type { IndexedPackage, Universe } from "./universe.ts";

export interface MachinePlan {
  machine: string;
  /** The update's packages this machine has installed: what is installed at exactly these versions. */
  install: { name: string; version: string }[];
  /** Everything that must be on the update server for this machine (candidates, deps, rollback versions). */
  publish: IndexedPackage[];
  /** Dependencies nothing in the batch or the signed indexes satisfies. */
  missing: string[];
  /** Packages whose current version is in no signed index (no downgrade possible). */
  noRollback: string[];
}

const ARCHES = ["amd64", "all"];

export function resolveOnMachine(updatePkgs: { name: string; version: string }[], inv: MachineInventory, universe: Universe): MachinePlan {
  const install = updatePkgs.filter((p) => inv.packages.has(p.name));
  const chosen = new Map<string, IndexedPackage>();
  const missing: string[] = [];
  const queue: IndexedPackage[] = [];
  for (const p of install) {
    const u = universe.find(p.name, p.version);
    if (!u) {
      missing.push(`${p.name} (= ${p.version})`);
      continue;
    }
    chosen.set(p.name, u);
    queue.push(u);
  }
  /** Provides of what the machine has (from the index entry of its installed version). */
  const providedBy = (virtual: string): boolean => {
    for (const c of chosen.values()) if (provides(c.stanza["Provides"], virtual)) return true;
    for (const [name, ip] of inv.packages) {
      if (chosen.has(name)) continue;
      const u = universe.find(name, ip.version);
      if (u && provides(u.stanza["Provides"], virtual)) return true;
    }
    return false;
  };
  const satisfiedBy = (a: DepAtom): boolean => {
    const c = chosen.get(a.name);
    if (c) return !a.rel || satisfies(c.stanza["Version"]!, a.rel, a.version!);
    const ip = inv.packages.get(a.name);
    if (ip) return !a.rel || satisfies(ip.version, a.rel, a.version!);
    return !a.rel && providedBy(a.name);
  };
  const candidate = (a: DepAtom): IndexedPackage | undefined =>
    universe
      .get(a.name)
      .filter((u) => ARCHES.includes(u.stanza["Architecture"] ?? "") && (!a.rel || satisfies(u.stanza["Version"]!, a.rel, a.version!)))
      .sort((x, y) => compareDebVersions(y.stanza["Version"]!, x.stanza["Version"]!))[0];
  while (queue.length) {
    const pkg = queue.shift()!;
    for (const group of [...parseDepends(pkg.stanza["Pre-Depends"]), ...parseDepends(pkg.stanza["Depends"])]) {
      if (group.some(satisfiedBy)) continue;
      let found: IndexedPackage | undefined;
      for (const alt of group) if ((found = candidate(alt))) break;
      if (!found) {
        missing.push(`${group.map(formatDepAtom).join(" | ")} (needed by ${pkg.stanza["Package"]} ${pkg.stanza["Version"]})`);
        continue;
      }
      chosen.set(found.stanza["Package"]!, found);
      queue.push(found);
    }
  }
  const publish = [...chosen.values()];
  const noRollback: string[] = [];
  for (const [name, c] of chosen) {
    const ip = inv.packages.get(name);
    if (!ip || ip.version === c.stanza["Version"]) continue;
    const back = universe.find(name, ip.version);
    if (back) publish.push(back);
    else noRollback.push(`${name} ${ip.version}`);
  }
  return { machine: inv.machine, install: install.map((p) => ({ name: p.name, version: p.version })), publish, missing, noRollback };
}

function provides(field: string | undefined, name: string): boolean {
  return parseDepends(field).some((g) => g.some((a) => a.name === name));
}
