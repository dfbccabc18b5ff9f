import { expect } from "chai";
import { bisect, type Verdict } from "../../../harness/run/bisect.ts";

const ids = (n: number) => Array.from({ length: n }, (_, i) => `PL-${i + 1}`);

/** A fake lab: a subset fails when it contains every patch of some bad combination. */
function lab(bad: string[][], opts: { broken?: (s: string[], call: number) => boolean } = {}) {
  const calls: string[][] = [];
  const evaluate = async (subset: string[]): Promise<Verdict> => {
    calls.push(subset);
    if (opts.broken?.(subset, calls.length)) return "broken";
    return bad.some((b) => b.every((p) => subset.includes(p))) ? "fail" : "pass";
  };
  return { evaluate, calls };
}

describe("bisect (blame in a failing aggregate)", () => {
  it("names the one patch that breaks the aggregate, in about log2(n) evaluations", async () => {
    const patches = ids(16);
    const { evaluate, calls } = lab([["PL-11"]]);
    const r = await bisect(patches, evaluate, { knownFail: [patches] });
    expect(r.culprits).to.deep.equal([["PL-11"]]);
    expect(r.conclusive).to.equal(true);
    expect(r.message).to.equal("PL-11 breaks it");
    // 4 halvings to isolate it, and one look at what remains.
    expect(r.evaluations).to.be.at.most(2 * Math.log2(16) + 1);
    expect(calls.length).to.equal(r.evaluations);
  });

  it("two patches that each pass alone and break together: blame names the pair", async () => {
    const patches = ids(8);
    const { evaluate } = lab([["PL-2", "PL-7"]]);
    const r = await bisect(patches, evaluate, { knownPass: patches.map((p) => [p]), knownFail: [patches] });
    expect(r.culprits).to.deep.equal([["PL-2", "PL-7"]]);
    expect(r.message).to.equal("PL-2 and PL-7 break it together (each passes without the other)");
    expect(r.evaluations).to.be.at.most(10);
  });

  it("the pair is found even when the two sit in the same half", async () => {
    const { evaluate } = lab([["PL-3", "PL-4"]]);
    const r = await bisect(ids(8), evaluate);
    expect(r.culprits).to.deep.equal([["PL-3", "PL-4"]]);
  });

  it("a combination of three", async () => {
    const { evaluate } = lab([["PL-1", "PL-6", "PL-12"]]);
    const r = await bisect(ids(12), evaluate);
    expect(r.culprits).to.deep.equal([["PL-1", "PL-6", "PL-12"]]);
    expect(r.message).to.match(/PL-1, PL-6 and PL-12 break it together/);
  });

  it("finds every independent culprit, not just the first", async () => {
    const { evaluate } = lab([["PL-2"], ["PL-5", "PL-8"]]);
    const r = await bisect(ids(10), evaluate);
    expect(r.culprits).to.deep.equal([["PL-2"], ["PL-5", "PL-8"]]);
  });

  it("stops at the first culprit when asked to", async () => {
    const { evaluate } = lab([["PL-2"], ["PL-5"]]);
    const r = await bisect(ids(6), evaluate, { all: false });
    expect(r.culprits).to.have.length(1);
  });

  it("never evaluates a subset twice or one it was told about", async () => {
    const patches = ids(8);
    const { evaluate, calls } = lab([["PL-4", "PL-5"]]);
    await bisect(patches, evaluate, { knownPass: patches.map((p) => [p]), knownFail: [patches] });
    const keys = calls.map((c) => c.join(","));
    expect(new Set(keys).size).to.equal(keys.length);
    expect(keys).not.to.include(patches.join(","));
    for (const p of patches) expect(keys).not.to.include(p);
  });

  it("an aggregate that passes when evaluated again is 'not reproduced', with no one blamed", async () => {
    const { evaluate } = lab([]);
    const r = await bisect(ids(4), evaluate);
    expect(r.culprits).to.deep.equal([]);
    expect(r.conclusive).to.equal(true);
    expect(r.message).to.match(/^not reproduced/);
  });

  it("a broken evaluation (the lab failed) is retried once", async () => {
    const { evaluate } = lab([["PL-3"]], { broken: (_s, call) => call === 2 });
    const r = await bisect(ids(4), evaluate);
    expect(r.culprits).to.deep.equal([["PL-3"]]);
    expect(r.steps.filter((s) => s.verdict === "broken")).to.have.length(1);
  });

  it("broken twice: inconclusive, and nobody is blamed for the lab's failure", async () => {
    const { evaluate } = lab([["PL-3"]], { broken: (s) => s.length === 2 });
    const r = await bisect(ids(4), evaluate);
    expect(r.conclusive).to.equal(false);
    expect(r.culprits).to.deep.equal([]);
    expect(r.message).to.match(/inconclusive: the lab could not evaluate \[PL-1, PL-2\] \(broken twice\)/);
  });

  it("an evaluation budget ends the search as inconclusive", async () => {
    const { evaluate } = lab([["PL-9"]]);
    const r = await bisect(ids(16), evaluate, { maxEvaluations: 2 });
    expect(r.conclusive).to.equal(false);
    expect(r.evaluations).to.equal(2);
    expect(r.message).to.match(/stopped after 2 evaluations/);
  });

  it("blames a single patch of a one-patch aggregate without evaluating anything else", async () => {
    const { evaluate, calls } = lab([["PL-1"]]);
    const r = await bisect(["PL-1"], evaluate, { knownFail: [["PL-1"]] });
    expect(r.culprits).to.deep.equal([["PL-1"]]);
    expect(calls).to.have.length(0);
  });
});
