// The observation window: the same length and sampling for every phase, stretched to cover
// the phase's work when asked, stopped early by an abort.
import { expect } from "chai";
import { waitWindow, watchWindow } from "../../../harness/watch/window.ts";

describe("watch: observation window", () => {
  it("samples at 0, every period and once at the end, for the window's length", async () => {
    const t0 = Date.now();
    const w = await watchWindow({ ms: 500, sampleMs: 100 }, async () => 1);
    const took = Date.now() - t0;
    expect(took).to.be.within(480, 1500);
    expect(w.samples.length).to.be.within(5, 7);
    expect(w.samples[0]!.t).to.be.lessThan(50);
    expect(w.samples[w.samples.length - 1]!.t).to.be.at.least(490);
  });

  it("a slow sample delays the next instead of overlapping it", async () => {
    let running = 0;
    let overlap = false;
    await watchWindow({ ms: 300, sampleMs: 20 }, async () => {
      if (running++) overlap = true;
      await new Promise((r) => setTimeout(r, 60));
      running--;
    });
    expect(overlap).to.equal(false);
  });

  it("stretches to cover `during` and stops sampling soon after it settles", async () => {
    const during = new Promise((r) => setTimeout(r, 700));
    const t0 = Date.now();
    const w = await watchWindow({ ms: 200, sampleMs: 100, during }, async () => 1);
    expect(Date.now() - t0).to.be.within(690, 1600);
    expect(w.samples.length).to.be.within(6, 10);
    const t1 = Date.now();
    await waitWindow({ ms: 100, sampleMs: 100, during: new Promise((r) => setTimeout(r, 300)) });
    expect(Date.now() - t1).to.be.within(290, 1200);
  });

  it("an abort ends the window early", async () => {
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 150);
    const t0 = Date.now();
    await watchWindow({ ms: 5000, sampleMs: 100, signal: ac.signal }, async () => 1);
    expect(Date.now() - t0).to.be.lessThan(1200);
  });

  it("a failing sample rejects: a watcher that cannot observe says so", async () => {
    let err: Error | undefined;
    await watchWindow({ ms: 100, sampleMs: 10 }, async () => { throw new Error("machine gone"); }).catch((e) => (err = e));
    expect(err?.message).to.equal("machine gone");
  });
});
