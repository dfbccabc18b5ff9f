// A stand-in Docker engine for unit tests: a real HTTP server on a unix socket that dockerode
// talks to as it would to dockerd, with per-route behaviour (answer, hang, drop the connection)
// so deadlines, retries and cleanup are tested without a real engine misbehaving on cue.
import fs from "node:fs";
import http from "node:http";
import os from "node:os";
import path from "node:path";
import Docker from "dockerode";

export type Handler = (req: http.IncomingMessage, body: string, res: http.ServerResponse) => void;

export interface FakeEngine {
  socket: string;
  /** Every request seen, "METHOD /path" without the API version prefix and query. */
  seen: string[];
  /** Requests whose client went away before an answer (aborted on deadline). */
  aborted: string[];
  route(method: string, pattern: RegExp, h: Handler): void;
  docker(): Docker;
  close(): Promise<void>;
}

export const json = (res: http.ServerResponse, status: number, body: unknown) => {
  res.writeHead(status, { "content-type": "application/json" });
  res.end(JSON.stringify(body));
};
/** Never answers (a stuck engine). */
export const hang: Handler = () => undefined;
/** Drops the connection without an answer. */
export const drop: Handler = (req) => req.socket.destroy();

export async function fakeEngine(): Promise<FakeEngine> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "patchlab-fake-engine-"));
  const socket = path.join(dir, "docker.sock");
  const routes: { method: string; pattern: RegExp; h: Handler }[] = [];
  const seen: string[] = [];
  const aborted: string[] = [];
  const open = new Set<import("node:net").Socket>();
  const server = http.createServer((req, res) => {
    const p = (req.url ?? "").replace(/^\/v[\d.]+/, "").replace(/\?.*$/, "");
    const key = `${req.method} ${p}`;
    seen.push(key);
    let body = "";
    req.on("data", (b) => (body += b));
    req.on("end", () => {
      res.on("close", () => {
        if (!res.writableEnded) aborted.push(key);
      });
      const r = routes.find((x) => x.method === req.method && x.pattern.test(p));
      if (!r) return json(res, 404, { message: `fake engine: no route for ${key}` });
      r.h(req, body, res);
    });
  });
  server.on("connection", (s) => {
    open.add(s);
    s.on("close", () => open.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(socket, resolve));
  return {
    socket,
    seen,
    aborted,
    route: (method, pattern, h) => routes.unshift({ method, pattern, h }),
    docker: () => new Docker({ socketPath: socket }),
    async close() {
      for (const s of open) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}
