import { expect } from "chai";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { ConfigError } from "../../../harness/core/errors.ts";
import { chooseHistory, findHistoryDir, historyStoreOf, HISTORY_INPUT, nextBuildOrder, recordHistoryInput, saveToStore } from "../../../harness/report/history.ts";

describe("report: history kept per batch", () => {
  let root: string;
  let saved: string | undefined;
  /** A report's history dir whose trend has these build orders (newest first, as Allure writes it). */
  const history = (dir: string, orders: number[]) => {
    fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(path.join(dir, "history-trend.json"), JSON.stringify(orders.map((buildOrder) => ({ buildOrder, data: { passed: 1, total: 1 } }))));
    fs.writeFileSync(path.join(dir, "history.json"), "{}");
    return dir;
  };
  const run = (id: string, batch: string) => {
    const dir = path.join(root, id);
    fs.mkdirSync(path.join(dir, "allure-results"), { recursive: true });
    fs.writeFileSync(path.join(dir, "gate.json"), JSON.stringify({ run: { batch } }));
    return dir;
  };
  beforeEach(() => {
    root = fs.mkdtempSync(path.join(os.tmpdir(), "patchlab-history-"));
    saved = process.env.PATCHLAB_REPORTS_DIR;
    process.env.PATCHLAB_REPORTS_DIR = root;
  });
  afterEach(() => {
    if (saved === undefined) delete process.env.PATCHLAB_REPORTS_DIR;
    else process.env.PATCHLAB_REPORTS_DIR = saved;
    fs.rmSync(root, { recursive: true, force: true });
  });

  it("finds a history dir given itself, a report dir or a run dir", () => {
    const h = history(path.join(root, "r1", "allure-report", "history"), [1]);
    expect(findHistoryDir(h)).to.equal(h);
    expect(findHistoryDir(path.join(root, "r1", "allure-report"))).to.equal(h);
    expect(findHistoryDir(path.join(root, "r1"))).to.equal(h);
    expect(findHistoryDir(path.join(root, "nothing"))).to.equal(undefined);
  });

  it("the next build order follows the newest in the trend; 1 without history", () => {
    expect(nextBuildOrder(history(path.join(root, "h"), [7, 6, 5]))).to.equal(8);
    expect(nextBuildOrder(undefined)).to.equal(1);
  });

  it("a run starts from its batch's store, not from whatever batch ran last", () => {
    const r1 = run("20261101-000000-demo-a", "demo");
    expect(saveToStore("demo", "20261101-000000-demo-a", history(path.join(r1, "allure-report", "history"), [1]))).to.equal(true);
    const other = run("20261102-000000-other-b", "other");
    saveToStore("other", "20261102-000000-other-b", history(path.join(other, "allure-report", "history"), [9]));
    const r2 = run("20261103-000000-demo-c", "demo");
    // `run --html` hints the previous run (here: the other batch's): ignored.
    const choice = chooseHistory({ runDir: r2, runId: "20261103-000000-demo-c", batch: "demo", hint: other });
    expect(choice.dir).to.equal(path.join(historyStoreOf("demo"), "history"));
    expect(nextBuildOrder(choice.dir)).to.equal(2);
  });

  it("generating a run's report again builds on the same history (the run does not count itself twice)", () => {
    const r1 = run("20261101-000000-demo-a", "demo");
    saveToStore("demo", "20261101-000000-demo-a", history(path.join(r1, "allure-report", "history"), [1]));
    const r2 = run("20261103-000000-demo-c", "demo");
    const first = chooseHistory({ runDir: r2, runId: "20261103-000000-demo-c", batch: "demo" });
    recordHistoryInput(r2, first);
    saveToStore("demo", "20261103-000000-demo-c", history(path.join(r2, "allure-report", "history"), [2, 1]));
    const again = chooseHistory({ runDir: r2, runId: "20261103-000000-demo-c", batch: "demo" });
    expect(again.dir).to.equal(path.join(r2, HISTORY_INPUT));
    expect(nextBuildOrder(again.dir)).to.equal(2);
  });

  it("an older run's report does not replace a newer run's history in the store", () => {
    saveToStore("demo", "20261103-000000-demo-c", history(path.join(root, "h2"), [2, 1]));
    expect(saveToStore("demo", "20261101-000000-demo-a", history(path.join(root, "h1"), [1]))).to.equal(false);
    expect(nextBuildOrder(findHistoryDir(historyStoreOf("demo")))).to.equal(3);
  });

  it("--history-from (a fresh CI workspace) wins; one without history is a ConfigError naming it", () => {
    const r = run("20261103-000000-demo-c", "demo");
    const downloaded = history(path.join(root, "artifact", "allure-report", "history"), [41, 40]);
    fs.mkdirSync(path.join(root, "artifact", "other"));
    fs.writeFileSync(path.join(root, "artifact", "other", "notes.txt"), "not a report");
    expect(chooseHistory({ runDir: r, runId: "x", batch: "demo", historyFrom: path.join(root, "artifact", "allure-report") }).dir).to.equal(downloaded);
    expect(() => chooseHistory({ runDir: r, runId: "x", batch: "demo", historyFrom: path.join(root, "artifact", "other") }))
      .to.throw(ConfigError)
      .with.property("message")
      .that.contains("--history-from");
  });

  it("an empty --history-from (a CI cache on its first cycle) starts the history, saying so", () => {
    const r = run("20261103-000000-demo-c", "demo");
    fs.mkdirSync(path.join(root, "empty-cache"));
    const choice = chooseHistory({ runDir: r, runId: "x", batch: "demo", historyFrom: path.join(root, "empty-cache") });
    expect(choice.dir).to.equal(undefined);
    expect(choice.source).to.contain("is empty");
  });
});
