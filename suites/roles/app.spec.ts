// The app role (the web server the line-of-business app runs on) as seen from the client,
// over plain HTTP pinned to the target's address. What the app itself does for its users is
// the app suites' business (suites/apps/<app>/); this suite checks that apache serves it.
import { expect } from "chai";
import { WIKI_MARKER, WIKI_PATH, WIKI_START } from "../../harness/lab/roles/app.ts";
import { check, smoke } from "../support/check.ts";
import { targetWithRole } from "../support/context.ts";
import { describeResponse, httpGet } from "../support/http.ts";

describe("app role", function () {
  this.timeout(60_000);
  let fqdn = "";
  let ip = "";

  before(function () {
    const t = targetWithRole("app");
    fqdn = t.fqdn;
    ip = t.ip;
  });

  smoke("app serves the wiki's start page", async function () {
    const url = `http://${fqdn}${WIKI_START}`;
    const r = await httpGet(url, { ip });
    expect(r.status, `GET ${url} : ${describeResponse(r)}`).to.equal(200);
    expect(r.body, `GET ${url} : the start page lacks the marker ${WIKI_MARKER}; ${describeResponse(r)}`).to.include(WIKI_MARKER);
  });

  check("app sends visitors of / to the wiki", async function () {
    const url = `http://${fqdn}/`;
    const r = await httpGet(url, { ip });
    expect(r.status, `GET ${url} : ${describeResponse(r)}`).to.be.oneOf([301, 302, 303, 307, 308]);
    expect(r.headers["location"] ?? "", `GET ${url} redirects to ${r.headers["location"]}`).to.include(WIKI_PATH);
  });

  check("app runs PHP: the wiki's pages come out rendered, never as source", async function () {
    const url = `http://${fqdn}${WIKI_PATH}doku.php?id=start`;
    const r = await httpGet(url, { ip });
    expect(r.status, `GET ${url} : ${describeResponse(r)}`).to.equal(200);
    expect(r.headers["content-type"] ?? "", `GET ${url} : content type`).to.match(/^text\/html/);
    expect(r.body, `GET ${url} : the answer holds PHP source`).to.not.include("<?php");
  });

  check("app serves the wiki's stylesheet and scripts", async function () {
    for (const p of ["lib/exe/css.php", "lib/exe/js.php"]) {
      const url = `http://${fqdn}${WIKI_PATH}${p}`;
      const r = await httpGet(url, { ip, maxTimeS: 20 });
      expect(r.status, `GET ${url} : ${describeResponse(r)}`).to.equal(200);
      expect(r.body.length, `GET ${url} : an empty answer`).to.be.greaterThan(1000);
    }
  });
});
