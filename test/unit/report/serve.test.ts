import { expect } from "chai";
import fs from "node:fs";
import http from "node:http";
import os from "node:os";
import path from "node:path";
import { resolveInside, serveReport } from "../../../harness/report/serve.ts";

/** A raw GET (fetch would normalise "../" away before sending it). */
function get(port: number, rawPath: string): Promise<{ status: number; type: string | undefined; body: string }> {
  return new Promise((resolve, reject) => {
    http
      .get({ host: "127.0.0.1", port, path: rawPath }, (res) => {
        let body = "";
        res.on("data", (b) => (body += b));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, type: res.headers["content-type"], body }));
      })
      .on("error", reject);
  });
}

describe("report: serving a report on loopback", () => {
  let root: string;
  let report: string;
  before(() => {
    root = fs.mkdtempSync(path.join(os.tmpdir(), "patchlab-serve-"));
    report = path.join(root, "allure-report");
    fs.mkdirSync(path.join(report, "data"), { recursive: true });
    fs.writeFileSync(path.join(report, "index.html"), "<html>report</html>");
    fs.writeFileSync(path.join(report, "data", "suites.json"), "{}");
    fs.writeFileSync(path.join(root, "secret.txt"), "not part of the report");
    fs.symlinkSync(path.join(root, "secret.txt"), path.join(report, "link.txt"));
  });
  after(() => fs.rmSync(root, { recursive: true, force: true }));

  it("listens on 127.0.0.1 only, serves index.html and data with their types, and closes", async () => {
    const s = await serveReport(report);
    try {
      expect(s.url).to.match(/^http:\/\/127\.0\.0\.1:\d+\/$/);
      expect(await get(s.port, "/")).to.deep.include({ status: 200, body: "<html>report</html>", type: "text/html; charset=utf-8" });
      expect(await get(s.port, "/data/suites.json")).to.deep.include({ status: 200, type: "application/json; charset=utf-8" });
    } finally {
      await s.close();
    }
    await get(s.port, "/").then(
      () => expect.fail("still listening after close()"),
      (e: NodeJS.ErrnoException) => expect(e.code).to.equal("ECONNREFUSED"),
    );
  });

  it("never serves a file outside the report (.., encoded .., symlinks)", async () => {
    const s = await serveReport(report);
    try {
      for (const p of ["/../secret.txt", "/%2e%2e/secret.txt", "/data/..%2f..%2fsecret.txt", "/link.txt", "/nope.json"]) {
        expect((await get(s.port, p)).status, p).to.equal(404);
      }
    } finally {
      await s.close();
    }
    expect(resolveInside(fs.realpathSync(report), "/data/../index.html")).to.equal(path.join(fs.realpathSync(report), "index.html"));
  });
});
