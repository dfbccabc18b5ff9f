// The web role as a user on the network sees it: every request is made from the lab's client
// machine, pinned to the target's address. Test titles stay free of machine names so the
// same check lines up across phases and runs (baseline vs post-install is the gate's ratchet).
import { expect } from "chai";
import { check, smoke } from "../support/check.ts";
import { sh, timedOnClient } from "../support/client.ts";
import { targetWithRole } from "../support/context.ts";
import { CLIENT_CA_FILE, describeResponse, httpGet } from "../support/http.ts";
import { serverCertificate } from "../support/tls.ts";

const HOME_MARKER = "patchlab-web-ok";
const MIN_CERT_DAYS = 7;
const BURST = 50;

describe("web role", function () {
  this.timeout(60_000);
  let fqdn = "";
  let ip = "";

  before(function () {
    // Throws a plain Error (-> broken) when the context is missing or the target is not a web machine.
    const t = targetWithRole("web");
    fqdn = t.fqdn;
    ip = t.ip;
  });

  smoke("web serves its home page over HTTP", async function () {
    const r = await httpGet(`http://${fqdn}/`, { ip });
    expect(r.status, `GET http://${fqdn}/ : ${describeResponse(r)}`).to.equal(200);
    expect(r.body, `GET http://${fqdn}/ : home page lacks the marker ${HOME_MARKER}; ${describeResponse(r)}`).to.include(HOME_MARKER);
  });

  check("web answers its health check at /healthz", async function () {
    const r = await httpGet(`http://${fqdn}/healthz`, { ip });
    expect(r.status, `GET http://${fqdn}/healthz : ${describeResponse(r)}`).to.equal(200);
  });

  check("web serves HTTPS with a certificate the lab CA vouches for", async function () {
    // No -k: curl verifies the chain against the lab CA and the name against the SAN.
    const r = await httpGet(`https://${fqdn}/`, { ip, cacert: CLIENT_CA_FILE });
    expect(r.curlExit, `GET https://${fqdn}/ verified with ${CLIENT_CA_FILE}: ${describeResponse(r)}`).to.equal(0);
    expect(r.status, `GET https://${fqdn}/ : ${describeResponse(r)}`).to.equal(200);
    expect(r.body, `GET https://${fqdn}/ : home page lacks the marker ${HOME_MARKER}; ${describeResponse(r)}`).to.include(HOME_MARKER);
  });

  check("web's certificate names the machine in its subjectAltName", async function () {
    const cert = await serverCertificate(fqdn, ip);
    expect(cert, `certificate of ${fqdn}: ${"error" in cert ? cert.error : ""}`).not.to.have.property("error");
    if ("error" in cert) return;
    expect(cert.altNames, `certificate of ${fqdn} (subject ${cert.subject}) has SANs ${cert.altNames.join(", ") || "(none)"}`).to.include(`DNS:${fqdn}`);
  });

  check(`web's certificate is valid for more than ${MIN_CERT_DAYS} more days`, async function () {
    const cert = await serverCertificate(fqdn, ip);
    expect(cert, `certificate of ${fqdn}: ${"error" in cert ? cert.error : ""}`).not.to.have.property("error");
    if ("error" in cert) return;
    const daysLeft = (cert.notAfter.getTime() - Date.now()) / 86_400_000;
    expect(daysLeft, `certificate of ${fqdn} expires ${cert.notAfter.toISOString()} (${daysLeft.toFixed(1)} days left)`).to.be.greaterThan(MIN_CERT_DAYS);
  });

  check(`web answers a burst of ${BURST} sequential requests without error`, async function () {
    // One exec running a bounded loop on the client: 50 docker execs would measure the engine, not the server.
    const url = `http://${fqdn}/`;
    const r = await timedOnClient(
      `i=0; while [ $i -lt ${BURST} ]; do ` +
        `curl -s -o /dev/null -w '%{http_code}\\n' --max-time 5 --resolve ${sh(`${fqdn}:80:${ip}`)} ${sh(url)}; ` +
        `i=$((i+1)); done`,
      { timeoutMs: BURST * 6_000 },
    );
    const codes = r.stdout.trim().split("\n").filter(Boolean);
    const bad = codes.map((c, i) => ({ i: i + 1, c })).filter((x) => x.c !== "200");
    expect(codes.length, `burst to ${url}: got ${codes.length} answers for ${BURST} requests; stderr: ${r.stderr.slice(0, 200)}`).to.equal(BURST);
    const shown = bad.slice(0, 10).map((x) => `#${x.i}: ${x.c === "000" ? "no answer" : x.c}`).join(", ");
    expect(bad.length, `burst to ${url}: ${bad.length} of ${BURST} requests failed (${shown})`).to.equal(0);
  });

  check("web sends a Server header", async function () {
    // Any HTTP answer will do: the status is the home page check's business.
    const r = await httpGet(`http://${fqdn}/`, { ip });
    expect(r.curlExit, `GET http://${fqdn}/ : ${describeResponse(r)}`).to.equal(0);
    expect(r.headers, `GET http://${fqdn}/ response headers: ${JSON.stringify(r.headers).slice(0, 300)}`).to.have.property("server");
  });
});
