import { expect } from "chai";
import { findCulprits, splitParts, type PartVerdict } from "../../../harness/run/culprits.ts";

const ids = (n: number) => Array.from({ length: n }, (_, i) => `P${i + 1}`);

/** A fake lab: a part fails when it holds every patch of some bad combination; `undecided` parts need review. */
function lab(bad: string[][], undecided: (part: string[]) => boolean = () => false) {
  const calls: string[][] = [];
  const verify = async (part: string[]): Promise<PartVerdict> => {
    calls.push(part);
    if (undecided(part)) return "needs-review";
    return bad.some((b) => b.every((p) => part.includes(p))) ? "rejected" : "approved";
  };
  return { verify, calls };
}

/** What the gate would conclude per patch: a patch is cleared of a failing part's records by that part's blame. */
function judged(all: string[], calls: string[][], verdictOf: (part: string[]) => PartVerdict, blames: { group: string[]; culprits: string[] }[]) {
  const out: Record<string, string> = {};
  for (const id of all) {
    const parts = [all, ...calls].filter((c) => c.includes(id));
    const speaking = parts.filter((c) => c.length === 1 || !blames.some((b) => sameSet(b.group, c) && !b.culprits.includes(id)));
    const vs = speaking.map(verdictOf);
    out[id] = vs.includes("rejected") ? "rejected" : vs.includes("needs-review") || !vs.includes("approved") ? "needs-review" : "approved";
  }
  return out;
}
const sameSet = (a: string[], b: string[]) => a.length === b.length && a.every((x) => b.includes(x));

describe("culprits (who is to blame in a rejected aggregate, each patch with evidence of its own)", () => {
  it("one culprit among 14: found in about 2 log2(14) verifications, not 14; every other patch passed in some part", async () => {
    const all = ids(14);
    const bad = [["P9"]];
    const { verify, calls } = lab(bad);
    const r = await findCulprits(all, verify);
    expect(r.culprits).to.deep.equal(["P9"]);
    expect(r.alone).to.deep.equal(["P9"]);
    expect(r.evaluations).to.equal(calls.length);
    expect(r.evaluations).to.be.at.most(8);
    const verdictOf = (part: string[]) => (bad.some((b) => b.every((p) => part.includes(p))) ? "rejected" : "approved") as PartVerdict;
    expect(judged(all, calls, verdictOf, r.blames)).to.deep.equal(Object.fromEntries(all.map((id) => [id, id === "P9" ? "rejected" : "approved"])));
    expect(r.blames[0]!.group, "the aggregate's blame first").to.deep.equal(all);
    expect(r.blames[0]!.message).to.match(/^the aggregate failed; P9 fails alone/);
  });

  it("a suspect from another machine is verified apart first: two verifications", async () => {
    const all = ids(14);
    const { verify, calls } = lab([["P4"]]);
    const r = await findCulprits(all, verify, { suspects: new Set(["P4", "OTHER"]) });
    expect(calls).to.deep.equal([all.filter((x) => x !== "P4"), ["P4"]]);
    expect(r.culprits).to.deep.equal(["P4"]);
  });

  it("a suspect that passes here: the rest is searched as usual", async () => {
    const all = ids(6);
    const { verify } = lab([["P2"]]);
    const r = await findCulprits(all, verify, { suspects: new Set(["P5"]) });
    expect(r.culprits).to.deep.equal(["P2"]);
    expect(r.alone).to.deep.equal(["P2"]);
  });

  it("several culprits are all found; three or fewer go straight to single patches", async () => {
    const { verify, calls } = lab([["P1"], ["P3"]]);
    const r = await findCulprits(ids(3), verify);
    expect(calls).to.deep.equal([["P1"], ["P2"], ["P3"]]);
    expect(r.culprits).to.deep.equal(["P1", "P3"]);
    const many = lab([["P2"], ["P7"], ["P8"]]);
    expect((await findCulprits(ids(10), many.verify)).culprits).to.deep.equal(["P2", "P7", "P8"]);
  });

  it("two patches that pass apart and break together: the pair, each part it was verified in cleared of the others", async () => {
    const all = ids(8);
    const bad = [["P2", "P7"]];
    const { verify, calls } = lab(bad);
    const r = await findCulprits(all, verify);
    expect(r.culprits).to.deep.equal(["P2", "P7"]);
    expect(r.alone).to.deep.equal([]);
    expect(r.blames[0]!.message).to.match(/no part of it fails apart .*together P2 \+ P7 break it/);
    const verdictOf = (part: string[]) => (bad.some((b) => b.every((p) => part.includes(p))) ? "rejected" : "approved") as PartVerdict;
    const v = judged(all, calls, verdictOf, r.blames);
    expect(v).to.deep.equal(Object.fromEntries(all.map((id) => [id, ["P2", "P7"].includes(id) ? "rejected" : "approved"])));
  });

  it("a part the lab could not verify leaves its patches undecided, never approved", async () => {
    const all = ids(8);
    const undecided = (part: string[]) => part.includes("P6") && part.length < 8;
    const { verify, calls } = lab([["P2"]], undecided);
    const r = await findCulprits(all, verify);
    expect(r.culprits).to.deep.equal(["P2"]);
    const verdictOf = (part: string[]) => (undecided(part) ? "needs-review" : part.includes("P2") ? "rejected" : "approved") as PartVerdict;
    const v = judged(all, calls, verdictOf, r.blames);
    expect(v["P6"]).to.equal("needs-review");
    expect(v["P2"]).to.equal("rejected");
    expect(v["P1"]).to.equal("approved");
  });

  it("a failure that does not come back in any part: nobody blamed, each judged on its parts", async () => {
    const { verify } = lab([]);
    const r = await findCulprits(ids(5), verify);
    expect(r.culprits).to.deep.equal([]);
    expect(r.blames[0]!.message).to.match(/no patch or combination failed again/);
  });

  it("splits: suspects apart from the rest, else halves, small sets into singles", () => {
    expect(splitParts(["A", "B", "C", "D", "E"], { suspects: new Set(["D"]) })).to.deep.equal([["A", "B", "C", "E"], ["D"]]);
    expect(splitParts(["A", "B", "C", "D", "E"])).to.deep.equal([["A", "B", "C"], ["D", "E"]]);
    expect(splitParts(["A", "B", "C"])).to.deep.equal([["A"], ["B"], ["C"]]);
    expect(splitParts(["A", "B"], { suspects: new Set(["A", "B"]) }), "all suspects: singles").to.deep.equal([["A"], ["B"]]);
  });
});
