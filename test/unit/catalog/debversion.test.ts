// Debian version ordering, checked against dpkg itself on a few hundred pairs (epochs,
// tildes, revisions, letters, leading zeros, real archive versions).
import { execFileSync } from "node:child_process";
import { expect } from "chai";
import { compareDebVersions, parseDebVersion, satisfies } from "../../../harness/catalog/debversion.ts";

const CURATED: [string, string][] = [
  ["1.0", "1.0"], ["1.0", "1.0-0"], ["1.0-1", "1.0-1~"], ["1.0~rc1", "1.0"], ["1.0~rc1", "1.0~rc2"], ["1.0~~", "1.0~"],
  ["1.0~", "1.0"], ["1:1.0", "2.0"], ["0:1.0", "1.0"], ["1:0.1", "0:9.9"], ["2:1.0", "10:0.1"], ["1.0a", "1.0"],
  ["1.0a", "1.0-0"], ["1.0+b1", "1.0"], ["1.0.1", "1.0a"], ["1.01", "1.1"], ["1.001", "1.1"], ["1.10", "1.9"],
  ["1.22.1-9+deb12u9", "1.22.1-9+deb12u11"], ["1.22.1-9+deb12u11", "1.22.1-9+deb12u10"], ["1:9.18.49-1~deb12u1", "1:9.18.49-1~deb12u3"],
  ["1:9.18.49-1~deb12u3", "1:9.18.49-1"], ["3.0.20-1~deb12u2", "3.0.22-1~deb12u2"], ["15+248+deb12u1", "15+248+deb12u2"],
  ["248+deb12u2", "15+248+deb12u2"], ["2026b-0+deb12u1", "2026f-0+deb12u1"], ["2.1.28+dfsg-10", "2.1.28+dfsg-10+deb12u1"],
  ["1.0.9-2+b6", "1.0.9-2+deb12u1"], ["20230311+deb12u1", "20250419~deb12u2"], ["5.36.0-7+deb12u3", "5.36.0-7+deb12u4"],
  ["1:2.38.1-5+deb12u3", "1:2.38.1-5+b1"], ["7.88.1-10+deb12u14", "7.88.1-10+deb12u5"], ["2.36-9+deb12u13", "2.36-9+deb12u7"],
  ["1.2.3-1ubuntu1", "1.2.3-1"], ["1.2.3-1.1", "1.2.3-1+b1"], ["1a", "1b"], ["1a", "1A"], ["1Z", "1a"], ["1+", "1."], ["1.0-1+", "1.0-1."],
  ["0", "00"], ["1.0-a", "1.0-0"], ["1.0-1a", "1.0-1~"], ["1.0~beta1~svn1245", "1.0~beta1"], ["2.30-1", "2.30"],
  ["1:1.2.13.dfsg-1", "1:1.2.13.dfsg-1+b1"], ["10.42-1", "10.42-1+deb12u2"], ["252.38-1~deb12u1", "252.39-1~deb12u1"],
  ["1.20.1-2+deb12u2", "1.20.1-2+deb12u5"], ["4.19.0-2", "4.19.0-2+deb12u1"], ["1.52.0-1+deb12u2", "1.52.0-1+deb12u3"],
  ["1:9.2p1-2+deb12u7", "1:9.2p1-2+deb12u9"], ["2:4.17.12+dfsg-0+deb12u2", "2:4.17.12+dfsg-0+deb12u4"],
  ["3.11.2-6+deb12u8", "3.11.2-6+deb12u9"], ["72.1-3+deb12u1", "72.1-3"], ["1.6-2.1+deb12u2", "1.6-2.1+deb12u3"],
  ["8.2.32-1~deb12u1", "8.2.36-1~deb12u1"], ["2.4.68-1~deb12u1", "2.4.71-1~deb12u1"], ["5.4.1-1+deb12u1", "5.4.1-1+deb12u2"],
];

/** Deterministic pseudo-random versions built from the characters that matter. */
function generated(n: number): [string, string][] {
  let seed = 12345;
  const rnd = (k: number) => ((seed = (seed * 1103515245 + 12345) % 2147483648), seed % k);
  const part = () => {
    const atoms = ["0", "1", "2", "9", "10", "01", "a", "b", "z", "A", "~", "~~", "+", ".", "rc", "dfsg", "deb12u"];
    let s = String(rnd(20));
    for (let i = rnd(5); i > 0; i--) s += atoms[rnd(atoms.length)]!;
    return s;
  };
  const version = () => `${rnd(4) === 0 ? `${rnd(3)}:` : ""}${part()}${rnd(3) ? `-${part().replace(/^~+/, "")}` : ""}`;
  const out: [string, string][] = [];
  while (out.length < n) {
    const a = version();
    // Half the pairs share a prefix, so the interesting tail comparisons are exercised.
    const b = rnd(2) ? version() : a + ["~", "+1", "a", ".0", "-1", "~rc1", "0"][rnd(7)]!;
    if (/^\d/.test(a.split(":").pop()!) && /^\d/.test(b.split(":").pop()!)) out.push([a, b]);
  }
  return out;
}

function dpkgOrder(pairs: [string, string][]): number[] {
  const q = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;
  const script = pairs.map(([a, b]) => `if dpkg --compare-versions ${q(a)} lt ${q(b)}; then echo -1; elif dpkg --compare-versions ${q(a)} eq ${q(b)}; then echo 0; else echo 1; fi`).join("\n");
  return execFileSync("sh", ["-c", script], { encoding: "utf8" }).trim().split("\n").map(Number);
}

describe("catalog: Debian version ordering", function () {
  this.timeout(60_000);

  it("agrees with `dpkg --compare-versions` on 300+ pairs including epochs and tildes", () => {
    const pairs = [...CURATED, ...generated(260)];
    expect(pairs.filter(([a, b]) => a.includes(":") || b.includes(":")).length).to.be.greaterThan(40);
    expect(pairs.filter(([a, b]) => a.includes("~") || b.includes("~")).length).to.be.greaterThan(40);
    const want = dpkgOrder(pairs);
    const got = pairs.map(([a, b]) => Math.sign(compareDebVersions(a, b)));
    const wrong = pairs.flatMap(([a, b], i) => (got[i] !== want[i] ? [`${a} vs ${b}: dpkg ${want[i]} ours ${got[i]}`] : []));
    expect(wrong, wrong.join("\n")).to.deep.equal([]);
    expect(pairs.length).to.be.greaterThan(300);
  });

  it("is antisymmetric and orders a real update chain", () => {
    const chain = ["1.22.1-9", "1.22.1-9+deb12u1", "1.22.1-9+deb12u9", "1.22.1-9+deb12u10", "1.22.1-9+deb12u11", "1.22.1-10~bpo12+1", "1.22.1-10", "1:1.0"];
    for (let i = 0; i < chain.length - 1; i++) {
      expect(compareDebVersions(chain[i]!, chain[i + 1]!), `${chain[i]} < ${chain[i + 1]}`).to.be.lessThan(0);
      expect(compareDebVersions(chain[i + 1]!, chain[i]!)).to.be.greaterThan(0);
    }
  });

  it("parses epoch, upstream and revision; evaluates dependency relations", () => {
    expect(parseDebVersion("1:9.18.49-1~deb12u3")).to.deep.equal({ epoch: 1, upstream: "9.18.49", revision: "1~deb12u3" });
    expect(parseDebVersion("2.0-rc-1")).to.deep.equal({ epoch: 0, upstream: "2.0-rc", revision: "1" });
    expect(satisfies("3.0.22-1~deb12u2", ">=", "3.0.0")).to.equal(true);
    expect(satisfies("3.0.22-1~deb12u2", "<<", "3.0.22")).to.equal(false);
    expect(satisfies("1.0", "=", "0:1.0")).to.equal(true);
    expect(satisfies("1.0~rc1", ">>", "1.0")).to.equal(false);
  });
});
