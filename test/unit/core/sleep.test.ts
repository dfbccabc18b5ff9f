// sleepUntil: never wakes before its target by Date.now() (the readiness grace and the watch
// windows compare against it), and an abort ends it at once.
import { expect } from "chai";
import { sleepUntil } from "../../../harness/core/sleep.ts";

describe("core: sleepUntil", () => {
  it("wakes at or after the target by the wall clock, every time", async () => {
    for (let i = 0; i < 20; i++) {
      const target = Date.now() + 15;
      await sleepUntil(target);
      expect(Date.now()).to.be.at.least(target);
    }
  });

  it("an abort ends the sleep at once; a target in the past returns at once", async () => {
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 20);
    const t0 = Date.now();
    await sleepUntil(Date.now() + 5_000, ac.signal);
    expect(Date.now() - t0).to.be.lessThan(1_000);
    const t1 = Date.now();
    await sleepUntil(t1 - 10);
    expect(Date.now() - t1).to.be.lessThan(50);
  });
});
