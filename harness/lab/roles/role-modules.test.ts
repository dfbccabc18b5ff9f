// Every role has a module whose readiness probes say what they wait for; the web
// certificate names cover every name the lab reaches the web machine by.
import { expect } from "chai";
import { ServerRole } from "../../config/schemas.ts";
import { ConfigError } from "../../core/errors.ts";
import { machineReadiness, roleModule } from "./index.ts";
import { fakeLab } from "./testing.ts";
import type { LabPki } from "./types.ts";
import { webCertNames } from "./web.ts";

const pki: LabPki = { caCertPem: "", caCertPath: "/nonexistent", issue: async () => ({ certPem: "", keyPem: "" }) };

describe("roles: role modules", () => {
  const { handles } = fakeLab([
    { name: "web", roles: ["web"], ip: "172.30.99.10" },
    { name: "dns", roles: ["dns"], ip: "172.30.99.11" },
    { name: "db", roles: ["db"], ip: "172.30.99.12" },
    { name: "file", roles: ["file"], ip: "172.30.99.13" },
    { name: "app", roles: ["app"], ip: "172.30.99.14" },
    { name: "client", roles: ["client"], ip: "172.30.99.15" },
    { name: "multi", roles: ["web", "db"], ip: "172.30.99.16" },
    { name: "ssh", roles: ["ssh"], ip: "172.30.99.17" },
  ]);
  const h = (name: string) => handles.find((m) => m.spec.name === name)!;

  it("has a module for every role, each naming its role", () => {
    for (const role of ServerRole.options) expect(roleModule(role).role).to.equal(role);
  });

  it("a role without a module is a ConfigError with a remedy", () => {
    expect(() => roleModule("nosuch" as never)).to.throw(ConfigError, /role nosuch has no module yet/);
  });

  it("readiness says what each role waits for", () => {
    const describe = (name: string) => machineReadiness(h(name), pki).map((s) => s.describe());
    expect(describe("web")).to.deep.equal(["tcp/80 accepting", "tcp/443 accepting", "http GET /healthz answering"]);
    expect(describe("dns")).to.deep.equal(["dig @127.0.0.1 dns.lab.test answers 172.30.99.11"]);
    expect(describe("db").join()).to.contain("tcp/5432").and.contain("inventory");
    expect(describe("file").join()).to.contain("tcp/445").and.contain("smbclient");
    expect(describe("app").join()).to.contain("/dokuwiki/doku.php?id=start");
    expect(describe("client")).to.have.length(1);
    expect(describe("ssh")).to.deep.equal(["tcp/22 answering an SSH banner"]);
    expect(describe("multi")).to.have.length(5);
  });

  it("only web, dns, ssh, client and updates need provisioning", () => {
    const provisioned = ServerRole.options.filter((r) => roleModule(r).provision);
    expect(provisioned).to.deep.equal(["web", "dns", "ssh", "client", "updates"]);
  });

  it("the web certificate is for the FQDN (CN), the short name, www and the address", () => {
    expect(webCertNames(h("web"), handles)).to.deep.equal(["web.lab.test", "web", "www.lab.test", "172.30.99.10"]);
    expect(webCertNames(h("multi"), handles)).to.deep.equal(["multi.lab.test", "multi", "172.30.99.16"]);
  });
});
