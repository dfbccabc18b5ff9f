// Serves a generated Allure report over HTTP on loopback. The report is a single-page app that
// fetches its data/*.json: browsers refuse that from file://, so a report needs a server.
// Loopback only (never 0.0.0.0): the report names the lab's machines and owners.
import fs from "node:fs";
import http from "node:http";
import path from "node:path";
import type { AddressInfo } from "node:net";

const TYPES: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".mjs": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".json": "application/json; charset=utf-8",
  ".csv": "text/csv; charset=utf-8",
  ".txt": "text/plain; charset=utf-8",
  ".log": "text/plain; charset=utf-8",
  ".diff": "text/plain; charset=utf-8",
  ".svg": "image/svg+xml",
  ".png": "image/png",
  ".jpg": "image/jpeg",
  ".jpeg": "image/jpeg",
  ".gif": "image/gif",
  ".webp": "image/webp",
  ".ico": "image/x-icon",
  ".woff": "font/woff",
  ".woff2": "font/woff2",
  ".ttf": "font/ttf",
  ".eot": "application/vnd.ms-fontobject",
  ".xml": "application/xml",
};

export interface ReportServer {
  url: string;
  port: number;
  close(): Promise<void>;
}

/** Starts a static server for `dir` on 127.0.0.1 (`port` 0 = any free port). */
export function serveReport(dir: string, port = 0): Promise<ReportServer> {
  const root = fs.realpathSync(dir);
  const server = http.createServer((req, res) => {
    if (req.method !== "GET" && req.method !== "HEAD") {
      res.writeHead(405, { allow: "GET, HEAD" }).end();
      return;
    }
    const file = resolveInside(root, req.url ?? "/");
    if (!file) {
      res.writeHead(404, { "content-type": "text/plain" }).end("not found\n");
      return;
    }
    res.writeHead(200, {
      "content-type": TYPES[path.extname(file).toLowerCase()] ?? "application/octet-stream",
      "content-length": fs.statSync(file).size,
      // The report is regenerated in place: a stale cached data file would show another run.
      "cache-control": "no-store",
    });
    if (req.method === "HEAD") res.end();
    else fs.createReadStream(file).pipe(res);
  });
  // Idle keep-alive sockets must not hold close() open.
  server.keepAliveTimeout = 1000;
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, "127.0.0.1", () => {
      const { port: bound } = server.address() as AddressInfo;
      resolve({
        url: `http://127.0.0.1:${bound}/`,
        port: bound,
        close: () =>
          new Promise<void>((done) => {
            server.close(() => done());
            server.closeAllConnections();
          }),
      });
    });
  });
}

/** The file a URL names under root, or undefined (outside root, absent, or a directory without index.html). */
export function resolveInside(root: string, url: string): string | undefined {
  let rel: string;
  try {
    rel = decodeURIComponent(new URL(url, "http://x").pathname);
  } catch {
    return undefined;
  }
  if (rel.includes("\0")) return undefined;
  let file = path.resolve(root, "." + rel);
  try {
    if (fs.statSync(file).isDirectory()) file = path.join(file, "index.html");
    file = fs.realpathSync(file); // a symlink must not lead out of the report
  } catch {
    return undefined;
  }
  if (file !== root && !file.startsWith(root + path.sep)) return undefined;
  return fs.statSync(file).isFile() ? file : undefined;
}
