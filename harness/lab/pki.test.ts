// The lab CA is made once per lab with the host's openssl and reused; it issues server
// certificates with the asked-for SANs that verify against it, and the same names give the
// same certificate (provisioning twice changes nothing).
import { X509Certificate } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { expect } from "chai";
import { LabError } from "../core/errors.ts";
import { labPki, subjectAltName } from "./pki.ts";
import { fakeLab } from "./roles/testing.ts";

describe("lab PKI", function () {
  this.timeout(20_000);
  let state: string;
  const { lab } = fakeLab([{ name: "web", roles: ["web"], ip: "172.30.99.10" }]);
  beforeEach(() => (state = fs.mkdtempSync(path.join(os.tmpdir(), "patchlab-pki-"))));
  afterEach(() => fs.rmSync(state, { recursive: true, force: true }));

  it("creates the CA under <state>/pki/<lab>/ once and reuses it", async () => {
    const a = await labPki(state, lab);
    expect(a.caCertPath.startsWith(path.join(state, "pki", lab.name))).to.equal(true);
    expect(fs.statSync(path.join(path.dirname(a.caCertPath), "ca.key")).mode & 0o777).to.equal(0o600);
    const ca = new X509Certificate(a.caCertPem);
    expect(ca.ca).to.equal(true);
    expect(ca.subject).to.contain(lab.name);
    const b = await labPki(state, lab);
    expect(b.caCertPem).to.equal(a.caCertPem);
  });

  it("two concurrent first calls agree on one CA", async () => {
    const [a, b] = await Promise.all([labPki(state, lab), labPki(state, lab)]);
    const c = await labPki(state, lab);
    expect(c.caCertPem).to.equal(fs.readFileSync(a.caCertPath, "utf8"));
    expect([a.caCertPem, b.caCertPem]).to.include(c.caCertPem);
  });

  it("issues a server certificate with DNS and IP SANs, CN = first name, verifying against the CA", async () => {
    const pki = await labPki(state, lab);
    const { certPem, keyPem } = await pki.issue(["web.lab.test", "web", "172.30.99.10"]);
    const cert = new X509Certificate(certPem);
    const ca = new X509Certificate(pki.caCertPem);
    expect(cert.subject).to.contain("CN=web.lab.test");
    expect(cert.subjectAltName).to.equal("DNS:web.lab.test, DNS:web, IP Address:172.30.99.10");
    expect(cert.checkIssued(ca)).to.equal(true);
    expect(cert.verify(ca.publicKey)).to.equal(true);
    expect(cert.ca).to.equal(false);
    expect(cert.checkHost("web.lab.test")).to.equal("web.lab.test");
    expect(cert.checkIP("172.30.99.10")).to.equal("172.30.99.10");
    expect(cert.checkPrivateKey((await import("node:crypto")).createPrivateKey(keyPem))).to.equal(true);
  });

  it("returns the same certificate for the same names, another for other names", async () => {
    const pki = await labPki(state, lab);
    const a = await pki.issue(["web.lab.test", "web"]);
    const b = await (await labPki(state, lab)).issue(["web.lab.test", "web"]);
    const c = await pki.issue(["app.lab.test"]);
    expect(b).to.deep.equal(a);
    expect(c.certPem).to.not.equal(a.certPem);
  });

  it("refuses a name that is neither DNS name nor IP", async () => {
    const pki = await labPki(state, lab);
    const err = await pki.issue(["web lab"]).then(() => undefined, (e: unknown) => e);
    expect(err).to.be.instanceOf(LabError);
  });

  it("writes IP literals as IP SANs", () => {
    expect(subjectAltName(["a.b", "10.1.2.3", "::1"])).to.equal("DNS:a.b, IP:10.1.2.3, IP:::1");
  });
});
