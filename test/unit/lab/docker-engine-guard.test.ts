// Every engine call made through the guarded client has a deadline, idempotent calls are
// retried when the engine drops the connection, and the engine's own answers (404...) pass
// through for callers to read. Proven against a fake engine speaking HTTP on a unix socket.
import { expect } from "chai";
import { LabError } from "../../../harness/core/errors.ts";
import { guardEngine } from "../../../harness/lab/drivers/docker-engine.ts";
import { drop, fakeEngine, hang, json, type FakeEngine } from "./fake-engine.ts";

const fast = { timeouts: { "engine-quick": 200, "engine-change": 300, "engine-slow": 400 }, retry: { attempts: 3, baseDelayMs: 10, maxDelayMs: 20, retryOn: () => true } };

async function rejectionOf(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (e) {
    return e;
  }
  throw new Error("expected a rejection");
}

describe("docker engine guard: deadlines and retries on every engine call", () => {
  let engine: FakeEngine;
  beforeEach(async () => (engine = await fakeEngine()));
  afterEach(async () => engine.close());

  it("a call the engine never answers fails as a LabError of kind timeout, and the request is aborted", async () => {
    engine.route("GET", /^\/containers\/web\/json$/, hang);
    const d = guardEngine(engine.docker(), { ...fast, retry: { attempts: 1, baseDelayMs: 0, maxDelayMs: 0, retryOn: () => false } });
    const t0 = Date.now();
    const e = await rejectionOf(d.getContainer("web").inspect());
    expect(Date.now() - t0).to.be.lessThan(1500);
    expect(e).to.be.instanceOf(LabError);
    expect((e as LabError).kind).to.equal("timeout");
    expect((e as LabError).message).to.match(/did not answer container web: inspect within 200 ms/);
    expect((e as LabError).remedy).to.match(/docker info/);
    await new Promise((r) => setTimeout(r, 50));
    expect(engine.aborted).to.include("GET /containers/web/json");
  });

  it("an idempotent call whose connection drops is retried and succeeds", async () => {
    let n = 0;
    engine.route("GET", /^\/containers\/json$/, (req, _b, res) => (++n < 3 ? drop(req, _b, res) : json(res, 200, [{ Id: "abc", Names: ["/x"] }])));
    const d = guardEngine(engine.docker(), fast);
    const list = await d.listContainers({ all: true });
    expect(list.map((c) => c.Id)).to.deep.equal(["abc"]);
    expect(n).to.equal(3);
  });

  it("gives up after the policy's attempts with a classified LabError", async () => {
    engine.route("GET", /^\/networks$/, drop);
    const d = guardEngine(engine.docker(), fast);
    const e = await rejectionOf(d.listNetworks());
    expect(e).to.be.instanceOf(LabError);
    expect((e as LabError).kind).to.equal("connection-dropped");
    expect(engine.seen.filter((s) => s === "GET /networks")).to.have.length(3);
  });

  it("never repeats a call that is not idempotent (create)", async () => {
    engine.route("POST", /^\/containers\/create$/, drop);
    const d = guardEngine(engine.docker(), fast);
    const e = await rejectionOf(d.createContainer({ name: "x", Image: "i" }));
    expect((e as LabError).kind).to.equal("connection-dropped");
    expect(engine.seen.filter((s) => s === "POST /containers/create")).to.have.length(1);
  });

  it("passes the engine's HTTP answers through (404 stays a 404 for the caller)", async () => {
    engine.route("GET", /^\/containers\/nope\/json$/, (_q, _b, res) => json(res, 404, { message: "No such container: nope" }));
    const d = guardEngine(engine.docker(), fast);
    const e = await rejectionOf(d.getContainer("nope").inspect());
    expect(e).to.not.be.instanceOf(LabError);
    expect((e as { statusCode?: number }).statusCode).to.equal(404);
  });

  it("a removal that timed out and then finds the object gone counts as done", async () => {
    let n = 0;
    engine.route("DELETE", /^\/containers\/web$/, (q, b, res) => (++n === 1 ? hang(q, b, res) : json(res, 404, { message: "No such container" })));
    const d = guardEngine(engine.docker(), fast);
    await d.getContainer("web").remove({ force: true });
    expect(n).to.equal(2);
  });

  it("guards what a call returns: a created container's start, an exec's start", async () => {
    engine.route("POST", /^\/containers\/create$/, (_q, _b, res) => json(res, 201, { Id: "c1" }));
    engine.route("POST", /^\/containers\/c1\/start$/, hang);
    engine.route("POST", /^\/containers\/c1\/exec$/, (_q, _b, res) => json(res, 201, { Id: "e1" }));
    engine.route("POST", /^\/exec\/e1\/start$/, hang);
    const d = guardEngine(engine.docker(), fast);
    const c = await d.createContainer({ name: "x", Image: "i" });
    expect(((await rejectionOf(c.start())) as LabError).kind).to.equal("timeout");
    const ex = await d.getContainer("c1").exec({ Cmd: ["true"], AttachStdout: true });
    const e = (await rejectionOf(ex.start({ hijack: true, stdin: false }))) as LabError;
    expect(e.kind).to.equal("timeout");
    expect(e.message).to.match(/exec e1: start/);
  });

  it("an engine socket that is not there is engine-unreachable", async () => {
    const Docker = (await import("dockerode")).default;
    const d = guardEngine(new Docker({ socketPath: "/nonexistent/docker.sock" }), fast);
    const e = (await rejectionOf(d.ping())) as LabError;
    expect(e).to.be.instanceOf(LabError);
    expect(e.kind).to.equal("engine-unreachable");
    expect(e.remedy).to.match(/doctor --fix/);
  });
});
