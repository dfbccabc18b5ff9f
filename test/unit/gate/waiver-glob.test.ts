// A waiver's check pattern ('*' = any run of characters) matches like the regex it replaced,
// and a hostile pattern cannot hold the gate: matching is linear-ish, not exponential.
import { expect } from "chai";
import { globMatch, waiverMatches } from "../../../harness/gate/waivers.ts";

describe("waiver check patterns", () => {
  const cases: [string, string, boolean][] = [
    ["web role > *", "web role > web sends a Server header", true],
    ["web role > *", "dns role > answers", false],
    ["*Server*", "web sends a Server header", true],
    ["exact title", "exact title", true],
    ["exact title", "exact title!", false],
    ["a*b*c", "aXXbYYc", true],
    ["a*b*c", "aXXcYYb", false],
    ["*", "", true],
    ["", "", true],
    ["x*", "", false],
    ["*.*", "a.b", true],
    ["(a+)+$", "(a+)+$", true],
    ["(a+)+$", "aaaa", false],
    ["multi\nline*", "multi\nline and more", true],
  ];
  for (const [pattern, text, expected] of cases) {
    it(`${JSON.stringify(pattern)} ${expected ? "matches" : "does not match"} ${JSON.stringify(text)}`, () => {
      expect(globMatch(pattern, text)).to.equal(expected);
    });
  }

  it("a hostile pattern (241 stars, no match possible) is decided in milliseconds, not minutes", () => {
    const t0 = Date.now();
    const w = { check: "*a".repeat(240) + "*b", reason: "x".repeat(10), approver: "abc", expires: "2030-01-01" };
    expect(waiverMatches(w, { patch: "p", machine: "m", phase: "post-install", names: ["a".repeat(500)] })).to.equal(false);
    expect(Date.now() - t0).to.be.lessThan(500);
  });
});
