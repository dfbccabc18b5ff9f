// An HTTP readiness probe has a whole-probe deadline: a server that trickles its answer a byte
// at a time (never idle long enough for the socket timeout) cannot hold the probe forever.
import net from "node:net";
import { expect } from "chai";
import { httpGet } from "../../../harness/readiness/wait.ts";
import type { Connection } from "../../../harness/lab/types.ts";

describe("readiness: HTTP probe deadline", () => {
  let server: net.Server;
  let port = 0;
  const timers: NodeJS.Timeout[] = [];
  before(async () => {
    server = net.createServer((s) => {
      s.on("error", () => undefined);
      const bytes = "HTTP/1.1 200 OK\r\nX-Slow: " + "a".repeat(1000);
      let i = 0;
      const t = setInterval(() => (i < bytes.length ? s.write(bytes[i++]!) : s.end()), 200);
      timers.push(t);
      s.on("close", () => clearInterval(t));
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    port = (server.address() as net.AddressInfo).port;
  });
  after(() => {
    for (const t of timers) clearInterval(t);
    server.close();
  });

  it("gives up after PATCHLAB_TIMEOUT_HTTP_PROBE_MS on a server that never finishes its headers", async () => {
    process.env.PATCHLAB_TIMEOUT_HTTP_PROBE_MS = "700";
    try {
      const t0 = Date.now();
      const r = await httpGet({ port }).probe({ machine: "web", ip: "127.0.0.1", conn: {} as Connection });
      expect(Date.now() - t0).to.be.within(600, 2000);
      expect(r).to.deep.equal({ ok: false, detail: "http / did not answer within 700 ms" });
    } finally {
      delete process.env.PATCHLAB_TIMEOUT_HTTP_PROBE_MS;
    }
  });
});
