// Cleanup that cannot hang and does not lie: `lab down` finishes when the engine lists a
// machine it cannot remove (reporting it), the reaper reports failed removals as failed, and a
// network with a stale endpoint is cleaned by force-disconnecting the endpoint first.
// Against a fake engine speaking the Docker API on a unix socket.
import { expect } from "chai";
import type { Lab } from "../../../harness/config/schemas.ts";
import { LabError } from "../../../harness/core/errors.ts";
import { DockerDriver } from "../../../harness/lab/drivers/docker-driver.ts";
import { guardEngine } from "../../../harness/lab/drivers/docker-engine.ts";
import { reap } from "../../../harness/lab/reaper.ts";
import { fakeEngine, hang, json, type FakeEngine } from "./fake-engine.ts";

const fast = { timeouts: { "engine-quick": 300, "engine-change": 300, "engine-slow": 300 }, retry: { attempts: 2, baseDelayMs: 10, maxDelayMs: 10, retryOn: () => true } };
// pid 2^22+1 exceeds Linux's pid_max: never alive.
const DEAD = "deadboot:4194305";

const lab = { name: "t", domain: "lab.test", network: { subnet: "172.30.85.0/24" }, machines: [] } as unknown as Lab;

function container(id: string, name: string, labels: Record<string, string> = {}) {
  return { Id: id, Names: [`/${name}`], Labels: labels };
}

/** Engine routes for a network "net1" whose removal needs its endpoints disconnected first. */
function networkWithStaleEndpoint(engine: FakeEngine, name: string, labels: Record<string, string>) {
  let attached = true;
  engine.route("GET", /^\/networks$/, (_q, _b, res) => json(res, 200, [{ Id: "net1", Name: name, Labels: labels }]));
  engine.route("GET", /^\/networks\/net1$/, (_q, _b, res) =>
    json(res, 200, { Id: "net1", Name: name, Containers: attached ? { "ep-0123456789ab": { Name: "patchlab-t-web" } } : {} }),
  );
  engine.route("POST", /^\/networks\/net1\/disconnect$/, (_q, body, res) => {
    const b = JSON.parse(body) as { Container: string; Force: boolean };
    if (b.Force && b.Container === "patchlab-t-web") attached = false;
    res.writeHead(200).end();
  });
  engine.route("DELETE", /^\/networks\/net1$/, (_q, _b, res) =>
    attached ? json(res, 403, { message: `error while removing network: network ${name} id net1 has active endpoints` }) : res.writeHead(204).end(),
  );
  engine.route("GET", /^\/containers\/ep-0123456789ab\/json$/, (_q, _b, res) => json(res, 404, { message: "No such container" }));
  return { get attached() { return attached; } };
}

describe("cleanup: lab down and the reaper never hang and never call a failed removal done", () => {
  let engine: FakeEngine;
  beforeEach(async () => {
    engine = await fakeEngine();
    engine.route("GET", /^\/images\/json$/, (_q, _b, res) => json(res, 200, []));
    engine.route("POST", /^\/images\/prune$/, (_q, _b, res) => json(res, 200, {}));
  });
  afterEach(async () => engine.close());

  it("lab down finishes when the engine lists a machine it never removes: the others go, the network goes, the stuck one is named", async () => {
    engine.route("GET", /^\/containers\/json$/, (_q, _b, res) => json(res, 200, [container("aaa", "patchlab-t-web"), container("bbb", "patchlab-t-client")]));
    engine.route("DELETE", /^\/containers\/aaa$/, hang);
    engine.route("DELETE", /^\/containers\/bbb$/, (_q, _b, res) => res.writeHead(204).end());
    const net = networkWithStaleEndpoint(engine, "patchlab-t", {});
    const d = guardEngine(engine.docker(), fast);
    const t0 = Date.now();
    let err: unknown;
    await new DockerDriver(d).down(lab).catch((e: unknown) => (err = e));
    expect(Date.now() - t0, "down must not hang").to.be.lessThan(3000);
    expect(err).to.be.instanceOf(LabError);
    expect((err as LabError).kind).to.equal("timeout");
    expect((err as LabError).message).to.match(/could not remove everything of lab t: patchlab-t-web: .*did not answer/);
    expect((err as LabError).message).to.not.include("patchlab-t-client");
    expect(engine.seen).to.include("DELETE /containers/bbb");
    expect(net.attached, "the stale endpoint was force-disconnected").to.equal(false);
    expect(engine.seen).to.include("DELETE /networks/net1");
  });

  it("the reaper reports a container it could not remove as failed, not removed", async () => {
    const labels = { "patchlab.managed": "true", "patchlab.ephemeral": "true", "patchlab.owner": DEAD, "patchlab.run": "r1" };
    engine.route("GET", /^\/containers\/json$/, (_q, _b, res) => json(res, 200, [container("aaa", "patchlab-t-web", labels), container("bbb", "patchlab-t-client", labels)]));
    engine.route("DELETE", /^\/containers\/aaa$/, (_q, _b, res) => json(res, 500, { message: "driver failed: device or resource busy" }));
    engine.route("DELETE", /^\/containers\/bbb$/, (_q, _b, res) => res.writeHead(204).end());
    engine.route("GET", /^\/networks$/, (_q, _b, res) => json(res, 200, []));
    const d = guardEngine(engine.docker(), fast);
    const r = await reap(d, new DockerDriver(d));
    expect(r.removedContainers).to.deep.equal(["patchlab-t-client"]);
    expect(r.failed).to.deep.equal([{ what: "container", name: "patchlab-t-web", error: "(HTTP code 500) server error - driver failed: device or resource busy " }]);
  });

  it("the reaper cleans a dead run's network with a stale endpoint (force-disconnect, then remove)", async () => {
    engine.route("GET", /^\/containers\/json$/, (_q, _b, res) => json(res, 200, []));
    const net = networkWithStaleEndpoint(engine, "patchlab-t", { "patchlab.managed": "true", "patchlab.ephemeral": "true", "patchlab.owner": DEAD });
    const d = guardEngine(engine.docker(), fast);
    const r = await reap(d, new DockerDriver(d));
    expect(net.attached).to.equal(false);
    expect(r.removedNetworks).to.deep.equal(["patchlab-t"]);
    expect(r.failed).to.deep.equal([]);
  });

  it("the reaper keeps a dead run's network that a live lab's machine still uses, and says so", async () => {
    engine.route("GET", /^\/containers\/json$/, (_q, _b, res) => json(res, 200, []));
    engine.route("GET", /^\/networks$/, (_q, _b, res) => json(res, 200, [{ Id: "net1", Name: "patchlab-t", Labels: { "patchlab.managed": "true", "patchlab.ephemeral": "true", "patchlab.owner": DEAD } }]));
    engine.route("GET", /^\/networks\/net1$/, (_q, _b, res) => json(res, 200, { Id: "net1", Containers: { c1: { Name: "patchlab-t-web" } } }));
    engine.route("GET", /^\/containers\/c1\/json$/, (_q, _b, res) => json(res, 200, { Id: "c1", Name: "/patchlab-t-web", Config: { Labels: { "patchlab.owner": "none" } } }));
    const d = guardEngine(engine.docker(), fast);
    const r = await reap(d, new DockerDriver(d));
    expect(r.kept).to.deep.equal([{ network: "patchlab-t", reason: "container patchlab-t-web still uses it" }]);
    expect(r.removedNetworks).to.deep.equal([]);
    expect(engine.seen.some((s) => s.includes("disconnect") || s.startsWith("DELETE /networks"))).to.equal(false);
  });

  it("the reaper reports a network it cannot remove as failed", async () => {
    engine.route("GET", /^\/containers\/json$/, (_q, _b, res) => json(res, 200, []));
    engine.route("GET", /^\/networks$/, (_q, _b, res) => json(res, 200, [{ Id: "net1", Name: "patchlab-t", Labels: { "patchlab.managed": "true", "patchlab.ephemeral": "true", "patchlab.owner": DEAD } }]));
    engine.route("GET", /^\/networks\/net1$/, (_q, _b, res) => json(res, 200, { Id: "net1", Containers: {} }));
    engine.route("DELETE", /^\/networks\/net1$/, hang);
    const d = guardEngine(engine.docker(), fast);
    const r = await reap(d, new DockerDriver(d));
    expect(r.removedNetworks).to.deep.equal([]);
    expect(r.failed.map((f) => [f.what, f.name])).to.deep.equal([["network", "patchlab-t"]]);
    expect(r.failed[0]!.error).to.match(/did not answer network net1: remove within 300 ms/);
  });
});
