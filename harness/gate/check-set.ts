// "Is this exactly what was approved?" Compares a package set CI is about to promote with the
// approved set of a decision. Pure; exact: an extra package, a missing one, another version or
// another sha256 all say no, because only what was tested may be promoted.
import type { PayloadItem } from "./schema.ts";

export interface SetComparison {
  exact: boolean;
  /** In the set but not approved (never tested, or its patch was not approved). */
  notApproved: PayloadItem[];
  /** Approved but absent from the set. */
  missing: PayloadItem[];
  /** Same package, another version or sha256 than the one tested. */
  different: { package: string; approved: PayloadItem; given: PayloadItem }[];
}

export function compareSets(approved: PayloadItem[], given: PayloadItem[]): SetComparison {
  const byName = (xs: PayloadItem[]) => {
    const m = new Map<string, PayloadItem[]>();
    for (const x of xs) m.set(x.package, [...(m.get(x.package) ?? []), x]);
    return m;
  };
  const a = byName(approved);
  const g = byName(given);
  // A sha256 is compared when both sides carry one (a set of .deb files always does).
  const same = (x: PayloadItem, y: PayloadItem) => x.version === y.version && (!x.sha256 || !y.sha256 || x.sha256 === y.sha256);
  const out: SetComparison = { exact: true, notApproved: [], missing: [], different: [] };
  for (const [name, gs] of g) {
    const as = a.get(name);
    if (!as) {
      out.notApproved.push(...gs);
      continue;
    }
    for (const x of gs) {
      if (as.some((y) => same(y, x))) continue;
      // A sha256 the tested package did not have is a different package, whatever its version says.
      out.different.push({ package: name, approved: as[0]!, given: x });
    }
  }
  for (const [name, as] of a) {
    const gs = g.get(name);
    for (const x of as) if (!gs?.some((y) => same(x, y))) if (!out.different.some((d) => d.package === name)) out.missing.push(x);
  }
  out.exact = out.notApproved.length === 0 && out.missing.length === 0 && out.different.length === 0;
  return out;
}

/** One line per difference, for people. */
export function describeComparison(c: SetComparison): string[] {
  const item = (x: PayloadItem) => `${x.package} ${x.version}${x.sha256 ? ` (sha256 ${x.sha256.slice(0, 12)}…)` : ""}`;
  return [
    ...c.notApproved.map((x) => `not approved: ${item(x)}`),
    ...c.missing.map((x) => `approved but not in the set: ${item(x)}`),
    ...c.different.map((d) => `different from what was tested: ${item(d.given)}; tested ${item(d.approved)}`),
  ];
}
