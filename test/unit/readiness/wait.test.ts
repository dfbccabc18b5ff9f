// Wait strategies against real sockets on loopback (no lab needed).
import http from "node:http";
import net from "node:net";
import type { AddressInfo } from "node:net";
import { expect } from "chai";
import { freePort } from "./free-port.ts";
import { LabError } from "../../../harness/core/errors.ts";
import { command, httpGet, port, waitUntil, type ProbeTarget } from "../../../harness/readiness/wait.ts";
import type { Connection } from "../../../harness/lab/types.ts";

const conn = (exitCode: number, stdout = ""): Connection => ({
  machine: "m",
  exec: async () => ({ exitCode, stdout, stderr: "", durationMs: 0 }),
  upload: async () => {},
  download: async () => Buffer.alloc(0),
  restart: async () => {},
  waitUntilReady: async () => {},
});
const target = (c: Connection = conn(0)): ProbeTarget => ({ machine: "m", ip: "127.0.0.1", conn: c });


describe("readiness: wait strategies", () => {
  it("port: open once something listens, closed otherwise", async () => {
    const p = await freePort();
    expect((await port(p).probe(target())).ok).to.equal(false);
    const s = net.createServer().listen(p, "127.0.0.1");
    try {
      await new Promise((r) => s.once("listening", r));
      expect(await port(p).probe(target())).to.deep.equal({ ok: true, detail: `tcp/${p} open` });
    } finally {
      s.close();
    }
  });

  it("http: ready on 2xx/3xx, not on 500, and says what it saw", async () => {
    let status = 500;
    const s = http.createServer((_q, r) => { r.statusCode = status; r.end("x"); }).listen(0, "127.0.0.1");
    await new Promise((r) => s.once("listening", r));
    const p = (s.address() as AddressInfo).port;
    try {
      const notYet = await httpGet({ port: p, path: "/healthz" }).probe(target());
      expect(notYet).to.deep.equal({ ok: false, detail: "http /healthz -> 500" });
      status = 200;
      expect((await httpGet({ port: p, path: "/healthz" }).probe(target())).ok).to.equal(true);
    } finally {
      s.close();
    }
  });

  it("command: ready when the command exits 0 inside the machine", async () => {
    expect((await command("pg_isready").probe(target(conn(0)))).ok).to.equal(true);
    const bad = await command("pg_isready").probe(target(conn(2, "no response")));
    expect(bad).to.deep.equal({ ok: false, detail: "pg_isready -> exit 2: no response" });
  });

  it("waitUntil gives up at the deadline with a LabError naming the machine, the wait and the last thing seen", async () => {
    const p = await freePort();
    const t0 = Date.now();
    try {
      await waitUntil([port(p)], target(), Date.now() + 300);
      expect.fail("should have timed out");
    } catch (e) {
      expect(e).to.be.instanceOf(LabError);
      expect((e as LabError).kind).to.equal("readiness-timeout");
      expect((e as LabError).message).to.match(new RegExp(`m not ready before its deadline: waiting for tcp/${p} accepting; last seen: tcp/${p}: ECONNREFUSED`));
    }
    expect(Date.now() - t0).to.be.below(1500);
  });

  it("waitUntil returns as soon as every strategy passes", async () => {
    const s = net.createServer().listen(0, "127.0.0.1");
    await new Promise((r) => s.once("listening", r));
    try {
      const t0 = Date.now();
      await waitUntil([port((s.address() as AddressInfo).port), command("true")], target(), Date.now() + 5000);
      // Far below the 5 s deadline; room for a busy host's process start.
      expect(Date.now() - t0).to.be.below(1000);
    } finally {
      s.close();
    }
  });
});
