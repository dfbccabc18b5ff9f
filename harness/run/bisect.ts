// Blame by bisection (openQA's aggregate + single-update idea, automated): when patches
// installed together fail, find the patch, or the smallest combination of patches, that
// breaks it, with few evaluations. Pure: `evaluate` (install a subset on a restored machine
// and run the checks) is given by the caller.
//
// The search is QuickXplain's (Junker, 2004): split the candidates in halves; a half that
// fails on its own holds a culprit; when neither does, the culprit spans both, and each half's
// part of it is found against the other half as background. It finds a minimal failing subset
// in O(k log(n/k)) evaluations for a culprit of k patches among n, assuming that adding
// patches to a failing set keeps it failing. Several disjoint culprits are found one after
// the other. Evaluations are cached; one that is "broken" (the lab failed, not the patches) is
// retried once and otherwise ends the search as inconclusive.

export type Verdict = "pass" | "fail" | "broken";
export type Evaluate = (subset: string[]) => Promise<Verdict>;

export interface BisectOptions {
  /** Subsets already known to pass (e.g. each patch verified alone). */
  knownPass?: string[][];
  /** Subsets already known to fail (e.g. the aggregate). */
  knownFail?: string[][];
  /** Stop after this many evaluations (default 64): the result is then inconclusive. */
  maxEvaluations?: number;
  /** Look for further culprits once one is found (default true). */
  all?: boolean;
}

export interface BisectStep {
  subset: string[];
  verdict: Verdict;
  /** From knownPass/knownFail or the cache, not evaluated. */
  known: boolean;
}

export interface BisectResult {
  /** Minimal failing subsets, each a patch or a combination, in the patches' order. */
  culprits: string[][];
  /** Whether the search ended with an answer for every failure it saw. */
  conclusive: boolean;
  /** Real evaluations made (cache and known results excluded). */
  evaluations: number;
  steps: BisectStep[];
  /** For people: "PL-1 and PL-2 break it together" / "not reproduced" / why inconclusive. */
  message: string;
}

class Stop extends Error {
  constructor(readonly why: string) {
    super(why);
  }
}

export async function bisect(patches: string[], evaluate: Evaluate, opts: BisectOptions = {}): Promise<BisectResult> {
  const order = new Map(patches.map((p, i) => [p, i]));
  const norm = (s: string[]) => [...new Set(s)].sort((a, b) => order.get(a)! - order.get(b)!);
  const key = (s: string[]) => norm(s).join("\u0000");
  const cache = new Map<string, Verdict>();
  for (const s of opts.knownPass ?? []) cache.set(key(s), "pass");
  for (const s of opts.knownFail ?? []) cache.set(key(s), "fail");
  // With nothing installed nothing can fail: the baseline is the caller's business.
  cache.set(key([]), "pass");
  const max = opts.maxEvaluations ?? 64;
  const steps: BisectStep[] = [];
  let evaluations = 0;

  const fails = async (subset: string[]): Promise<boolean> => {
    const s = norm(subset);
    const k = key(s);
    const hit = cache.get(k);
    if (hit !== undefined) {
      steps.push({ subset: s, verdict: hit, known: true });
      return hit === "fail";
    }
    let v: Verdict = "broken";
    for (let attempt = 0; attempt < 2 && v === "broken"; attempt++) {
      if (evaluations >= max) throw new Stop(`stopped after ${max} evaluations`);
      evaluations++;
      v = await evaluate(s);
      steps.push({ subset: s, verdict: v, known: false });
    }
    if (v === "broken") throw new Stop(`the lab could not evaluate [${s.join(", ")}] (broken twice)`);
    cache.set(k, v);
    return v === "fail";
  };

  /** A minimal M within `cands` such that background + M fails, given background + cands fails and background passes. */
  const minimal = async (background: string[], cands: string[], backgroundChanged: boolean): Promise<string[]> => {
    if (backgroundChanged && (await fails(background))) return [];
    if (cands.length === 1) return cands;
    const half = Math.ceil(cands.length / 2);
    const c1 = cands.slice(0, half), c2 = cands.slice(half);
    const m2 = await minimal([...background, ...c1], c2, true);
    const m1 = await minimal([...background, ...m2], c1, m2.length > 0);
    return [...m1, ...m2];
  };

  const culprits: string[][] = [];
  let rest = norm(patches);
  let message = "";
  let conclusive = true;
  try {
    if (!(await fails(rest))) {
      message = `not reproduced: [${rest.join(", ")}] passed together when evaluated again`;
    } else {
      for (;;) {
        const m = norm(await minimal([], rest, false));
        culprits.push(m);
        if (opts.all === false) break;
        // The patches not yet blamed may hold another culprit; only they are searched again.
        rest = rest.filter((p) => !m.includes(p));
        if (rest.length === 0 || !(await fails(rest))) break;
      }
    }
  } catch (e) {
    if (!(e instanceof Stop)) throw e;
    conclusive = false;
    message = `inconclusive: ${e.why}`;
  }
  if (conclusive && culprits.length) message = culprits.map(describe).join("; ");
  else if (!conclusive && culprits.length) message = `${culprits.map(describe).join("; ")}; then ${message}`;
  return { culprits, conclusive, evaluations, steps, message };
}

function describe(c: string[]): string {
  if (c.length === 1) return `${c[0]} breaks it`;
  return `${c.slice(0, -1).join(", ")} and ${c[c.length - 1]} break it together (each passes without the other${c.length > 2 ? "s" : ""})`;
}
