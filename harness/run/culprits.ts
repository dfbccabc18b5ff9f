// Which patches of a rejected aggregate are to blame, each patch left with evidence of its own.
// Adaptive group testing over real verifications: a failing set is split into parts, each part
// verified on the restored machine; a failing part is split again, down to single patches; a
// part that passes speaks for its patches. Splits: the run's suspects (patches found failing
// alone on another machine) apart from the rest, else halves; a set of at most three goes
// straight to single patches. One culprit among n costs about 2 log2(n) verifications instead
// of n, a suspect already known two. When no part of a failing set fails, the culprit is a
// combination: QuickXplain (bisect.ts) finds it, the parts given as known passes, once the
// set has failed a second time.
//
// Every patch ends in a part that passed, in a failing part (alone: a culprit), or undecided
// (a part the lab could not verify: needs review). Pure: `verify` is the caller's. Each
// failing set comes back as a blame (the set and the culprits in it), so the gate clears the
// others of that set's failed records.
import { bisect } from "./bisect.ts";

export type PartVerdict = "approved" | "rejected" | "needs-review";

export interface CulpritBlame {
  group: string[];
  culprits: string[];
  message: string;
}

export interface CulpritSearch {
  /** Patches to blame: failing alone, or members of a combination that breaks it. */
  culprits: string[];
  /** Those that failed alone (what another machine may suspect first). */
  alone: string[];
  /** One per failing set of two or more patches, the aggregate first. */
  blames: CulpritBlame[];
  /** Verifications made. */
  evaluations: number;
}

export interface CulpritOptions {
  /** Patches that failed alone elsewhere in the run: verified apart from the rest first. */
  suspects?: ReadonlySet<string>;
  /** A failing set this small is split into single patches (default 3). */
  singlesUpTo?: number;
}

/** The parts a failing set is verified in. */
export function splitParts(set: string[], opts: CulpritOptions = {}): string[][] {
  const suspects = set.filter((x) => opts.suspects?.has(x));
  if (suspects.length && suspects.length < set.length) return [set.filter((x) => !opts.suspects!.has(x)), ...suspects.map((x) => [x])];
  if (set.length <= (opts.singlesUpTo ?? 3)) return set.map((x) => [x]);
  const half = Math.ceil(set.length / 2);
  return [set.slice(0, half), set.slice(half)];
}

/** `ids` were verified together and rejected: find who is to blame. */
export async function findCulprits(ids: string[], verify: (part: string[]) => Promise<PartVerdict>, opts: CulpritOptions = {}): Promise<CulpritSearch> {
  const blames: CulpritBlame[] = [];
  const alone: string[] = [];
  let evaluations = 0;
  const run = (part: string[]) => {
    evaluations++;
    return verify(part);
  };
  const label = (set: string[]) => (set.length === ids.length ? "the aggregate" : set.join(" + "));

  /** Culprits within `set`, known to fail. */
  const search = async (set: string[]): Promise<string[]> => {
    const found: string[] = [];
    const passed: string[][] = [];
    const undecided: string[][] = [];
    const unreproduced: string[][] = [];
    for (const part of splitParts(set, opts)) {
      const v = await run(part);
      if (v === "approved") passed.push(part);
      else if (v === "needs-review") undecided.push(part);
      else if (part.length === 1) {
        found.push(part[0]!);
        alone.push(part[0]!);
      } else {
        const inPart = await search(part);
        if (!inPart.length) unreproduced.push(part);
        found.push(...inPart);
      }
    }
    let message: string;
    if (found.length) {
      message = `${label(set)} failed; ${found.length === 1 ? `${found[0]} fails alone` : `${found.join(", ")} fail alone`}${passed.length ? `; ${passed.flat().join(", ")} passed${passed.length > 1 ? " in parts" : ""} without ${found.length === 1 ? "it" : "them"}` : ""}`;
    } else if (undecided.length) {
      message = `${label(set)} failed, but ${undecided.map((u) => u.join(" + ")).join(", ")} could not be verified apart: judged on what was verified`;
    } else if (unreproduced.length) {
      message = `${label(set)} failed; ${unreproduced.map((u) => u.join(" + ")).join(", ")} failed again but no patch or combination in it did: judged on each part`;
    } else {
      // Each part passes: the culprit spans parts (the parts are known passes), or the failure
      // does not come back: the set is verified again before anyone is blamed.
      const failing: string[][] = [];
      const r = await bisect(set, async (sub) => {
        const v = await run(sub);
        if (v === "rejected") failing.push(sub);
        return v === "approved" ? "pass" : v === "rejected" ? "fail" : "broken";
      }, { knownPass: passed });
      found.push(...new Set(r.culprits.flat()));
      message = r.culprits.length
        ? `${label(set)} failed but no part of it fails apart (${passed.map((x) => x.join(" + ")).join("; ")}); together ${r.culprits.map((c) => c.join(" + ")).join(", and ")} break it`
        : `${label(set)} failed but no patch or combination failed again (${r.message}): judged on each part`;
      // A failing combination verified on the way may hold patches that are not to blame: clear them too.
      for (const sub of failing) if (sub.length > 1 && sub.length < set.length) blames.push({ group: sub, culprits: sub.filter((x) => found.includes(x)), message: `${sub.join(" + ")} failed: it holds ${sub.filter((x) => found.includes(x)).join(" + ")}` });
    }
    blames.push({ group: set, culprits: found, message });
    return found;
  };

  const culprits = await search(ids);
  // The aggregate's blame first: what a person reads first.
  blames.reverse();
  return { culprits: [...new Set(culprits)], alone, blames, evaluations };
}
