// Everything the lab's update server may carry: the signed indexes of the security suite,
// bookworm-updates and bookworm itself (the versions the lab has now), merged.
import type { Stanza } from "./deb822.ts";
import { cachedRelease, defaultMirror, fetchRelease, packagesIndex, type PackagesIndex, type SuiteName } from "./feed.ts";

export const UNIVERSE_SUITES: SuiteName[] = ["bookworm-security", "bookworm-updates", "bookworm"];

/** A binary package from a signed index, with where to download it. */
export interface IndexedPackage {
  stanza: Stanza;
  suite: SuiteName;
  mirror: string;
}

export interface Universe {
  indexes: PackagesIndex[];
  /** Every version of a binary package across the suites. */
  get(name: string): IndexedPackage[];
  /** The exact package (name, version, arch amd64/all), or undefined. */
  find(name: string, version: string): IndexedPackage | undefined;
}

export function universeOf(indexes: PackagesIndex[]): Universe {
  const get = (name: string) => indexes.flatMap((i) => (i.byName.get(name) ?? []).map((stanza) => ({ stanza, suite: i.suite, mirror: i.mirror })));
  return {
    indexes,
    get,
    find: (name, version) => get(name).find((p) => p.stanza["Version"] === version && ["amd64", "all"].includes(p.stanza["Architecture"] ?? "")),
  };
}

/**
 * The signed indexes, verified: from the last verified InRelease when one is cached (no
 * network; its signature is checked again), else fetched. `refresh` always fetches.
 */
export async function loadUniverse(opts: { refresh?: boolean; suites?: SuiteName[] } = {}): Promise<Universe> {
  const indexes: PackagesIndex[] = [];
  for (const suite of opts.suites ?? UNIVERSE_SUITES) {
    const mirror = defaultMirror(suite);
    const rel = (!opts.refresh && (await cachedRelease(suite, mirror))) || (await fetchRelease(suite, mirror));
    indexes.push(await packagesIndex(rel));
  }
  return universeOf(indexes);
}
