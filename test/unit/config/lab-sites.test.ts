// A lab's `sites:` map: which Docker engine a site's containers run on. Bad entries are refused
// at load time naming the field and a remedy; good ones put each container on its engine, in
// its engine's subnet, and the driver registry makes one Docker driver per engine.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { expect } from "chai";
import { loadLab } from "../../../harness/config/loader.ts";
import type { Lab } from "../../../harness/config/schemas.ts";
import { ConfigError } from "../../../harness/core/errors.ts";
import { assignAddresses } from "../../../harness/lab/addressing.ts";
import { DockerDriver } from "../../../harness/lab/drivers/docker-driver.ts";
import { engineOf, enginesOf, engineVar, parseEngineUrl } from "../../../harness/lab/drivers/docker-engines.ts";
import { Drivers } from "../../../harness/lab/drivers/driver-for.ts";
import type { MachineHandle } from "../../../harness/lab/types.ts";
import { clientFor } from "../../../harness/run/suite-context.ts";
import { configErrorsOf, fixtureRoot } from "./helpers.ts";

const BRANCH = "unix:///run/branch-engine/docker.sock";

function machine(name: string, image: string, roles: string[], site: string, extra = ""): string {
  return [`  - name: ${name}`, `    image: ${image}`, `    roles: [${roles.join(", ")}]`, "    owner: { name: T, contact: t@corp.example }", `    site: ${site}`, "    criticality: low", ...(extra ? [`    ${extra}`] : [])].join("\n");
}

function labYaml(o: { sites?: string; machines?: string[] } = {}): string {
  return [
    "name: sites",
    "domain: sites.test",
    "network: { subnet: 172.30.89.0/24 }",
    ...(o.sites !== undefined ? ["sites:", o.sites] : []),
    "machines:",
    ...(o.machines ?? [machine("client", "client", ["client"], "hq"), machine("web", "web", ["web"], "hq"), machine("bclient", "client", ["client"], "branch"), machine("dns", "dns", ["dns"], "branch")]),
    "",
  ].join("\n");
}

const BRANCH_SITE = `  branch: { engine: "${BRANCH}", subnet: 172.30.90.0/24 }`;

let dir: string;
function write(text: string, name = "lab.yaml"): string {
  const f = path.join(dir, name);
  fs.writeFileSync(f, text);
  return f;
}
const load = (text: string) => loadLab(write(text), { configRoot: fixtureRoot });
async function problems(text: string): Promise<{ field: string | undefined; message: string; remedy: string }[]> {
  return (await configErrorsOf(load(text))).map((e) => ({ field: e.field, message: e.message, remedy: e.remedy }));
}

describe("lab sites: containers of a site on their own Docker engine", () => {
  before(() => (dir = fs.mkdtempSync(path.join(os.tmpdir(), "patchlab-sites-"))));
  after(() => fs.rmSync(dir, { recursive: true, force: true }));
  afterEach(() => delete process.env[engineVar("branch")]);

  it("a lab without sites keeps every machine on the default engine, as before", async () => {
    const { lab } = await load(labYaml());
    expect(enginesOf(lab).map((e) => [e.url, e.isDefault])).to.deep.equal([["unix:///var/run/docker.sock", true]]);
    expect([...assignAddresses(lab).values()]).to.deep.equal(["172.30.89.10", "172.30.89.11", "172.30.89.12", "172.30.89.13"]);
  });

  it("puts a site's containers on its engine, addressed in that engine's subnet", async () => {
    const { lab } = await load(labYaml({ sites: BRANCH_SITE }));
    expect(enginesOf(lab).map((e) => [e.url, e.subnet, e.sites])).to.deep.equal([
      ["unix:///var/run/docker.sock", "172.30.89.0/24", []],
      [BRANCH, "172.30.90.0/24", ["branch"]],
    ]);
    expect(engineOf(lab, lab.machines[3]!).url).to.equal(BRANCH);
    expect(Object.fromEntries(assignAddresses(lab))).to.deep.equal({ client: "172.30.89.10", web: "172.30.89.11", bclient: "172.30.90.10", dns: "172.30.90.11" });
  });

  it("PATCHLAB_ENGINE_<SITE> overrides a site's endpoint on this runner; a bad one is a ConfigError naming the variable", async () => {
    const { lab } = await load(labYaml({ sites: BRANCH_SITE }));
    process.env[engineVar("branch")] = "tcp://10.9.8.7:2375";
    expect(engineOf(lab, lab.machines[3]!).url).to.equal("tcp://10.9.8.7:2375");
    process.env[engineVar("branch")] = "http://nope";
    let err: unknown;
    try {
      engineOf(lab, lab.machines[3]!);
    } catch (e) {
      err = e;
    }
    expect(err).to.be.instanceOf(ConfigError);
    expect((err as ConfigError).field).to.equal("PATCHLAB_ENGINE_BRANCH");
  });

  it("parses unix, tcp and ssh endpoints and says what is wrong with others", () => {
    expect(parseEngineUrl("unix:///run/x.sock")).to.deep.equal({ protocol: "unix", socketPath: "/run/x.sock" });
    expect(parseEngineUrl("tcp://engine.corp:2376")).to.deep.equal({ protocol: "tcp", host: "engine.corp", port: 2376 });
    expect(parseEngineUrl("ssh://ops@engine.corp")).to.deep.equal({ protocol: "ssh", host: "engine.corp", port: 22, username: "ops" });
    expect(parseEngineUrl("tcp://engine.corp")).to.match(/tcp:\/\/host:port/);
    expect(parseEngineUrl("tcp://h:99999")).to.match(/out of range/);
    expect(parseEngineUrl("unix://relative.sock")).to.match(/absolute socket path/);
  });

  it("refuses a bad endpoint, naming the field", async () => {
    const p = await problems(labYaml({ sites: `  branch: { engine: "tcp://engine.corp", subnet: 172.30.90.0/24 }` }));
    expect(p).to.have.length(1);
    expect(p[0]!.field).to.equal("sites.branch.engine");
    expect(p[0]!.message).to.match(/not an engine endpoint: a tcp endpoint is tcp:\/\/host:port/);
  });

  it("refuses a site entry no machine uses (a typo would leave machines on the default engine), suggesting the close one", async () => {
    const p = await problems(labYaml({ sites: `  brnch: { engine: "${BRANCH}", subnet: 172.30.90.0/24 }` }));
    expect(p.map((x) => x.field)).to.deep.equal(["sites.brnch"]);
    expect(p[0]!.remedy).to.match(/did you mean "branch"/);
  });

  it("refuses missing TLS files, and TLS on an engine that is not tcp", async () => {
    const tcp = await problems(labYaml({ sites: `  branch: { engine: "tcp://10.1.2.3:2376", subnet: 172.30.90.0/24, tls: { ca: certs/ca.pem, cert: certs/cert.pem, key: certs/key.pem } }` }));
    expect(tcp.map((x) => x.field)).to.deep.equal(["sites.branch.tls.ca", "sites.branch.tls.cert", "sites.branch.tls.key"]);
    expect(tcp[0]!.message).to.match(/TLS ca file .*certs\/ca\.pem of site branch does not exist/);
    const unix = await problems(labYaml({ sites: `  branch: { engine: "${BRANCH}", subnet: 172.30.90.0/24, tls: { ca: lab.yaml, cert: lab.yaml, key: lab.yaml } }` }));
    expect(unix.map((x) => x.field)).to.deep.equal(["sites.branch.tls"]);
  });

  it("resolves TLS paths against the lab file's folder", async () => {
    fs.mkdirSync(path.join(dir, "certs"), { recursive: true });
    for (const f of ["ca", "cert", "key"]) fs.writeFileSync(path.join(dir, "certs", `${f}.pem`), "x");
    const { lab } = await load(labYaml({ sites: `  branch: { engine: "tcp://10.1.2.3:2376", subnet: 172.30.90.0/24, tls: { ca: certs/ca.pem, cert: certs/cert.pem, key: certs/key.pem } }` }));
    expect(engineOf(lab, lab.machines[3]!).tls).to.deep.equal({ ca: path.join(dir, "certs/ca.pem"), cert: path.join(dir, "certs/cert.pem"), key: path.join(dir, "certs/key.pem") });
  });

  it("refuses a site subnet that overlaps the lab's, and a fixed ip outside the site's subnet", async () => {
    const overlap = await problems(labYaml({ sites: `  branch: { engine: "${BRANCH}", subnet: 172.30.89.128/25 }` }));
    expect(overlap.map((x) => x.field)).to.deep.equal(["sites.branch.subnet"]);
    expect(overlap[0]!.message).to.match(/overlaps network\.subnet/);
    const ms = [machine("client", "client", ["client"], "hq"), machine("bclient", "client", ["client"], "branch"), machine("dns", "dns", ["dns"], "branch", "ip: 172.30.89.50")];
    const ip = await problems(labYaml({ sites: BRANCH_SITE, machines: ms }));
    expect(ip.map((x) => x.field)).to.deep.equal(["machines[2].ip"]);
    expect(ip[0]!.message).to.match(/outside the lab subnet 172\.30\.90\.0\/24/);
  });

  it("refuses a site engine with servers but no client: suites probe a machine from its own engine", async () => {
    const ms = [machine("client", "client", ["client"], "hq"), machine("web", "web", ["web"], "hq"), machine("dns", "dns", ["dns"], "branch")];
    const p = await problems(labYaml({ sites: BRANCH_SITE, machines: ms }));
    expect(p.map((x) => x.field)).to.deep.equal(["sites.branch"]);
    expect(p[0]!.message).to.match(/runs dns but no client machine/);
    expect(p[0]!.remedy).to.match(/roles: \[client\]/);
  });

  it("the registry makes one Docker driver per engine and hands each machine its engine's", async () => {
    const { lab } = await load(labYaml({ sites: BRANCH_SITE }));
    const reg = new Drivers();
    const handles = await reg.handles(lab);
    const of = (n: string) => reg.driverFor(handles.find((h) => h.spec.name === n)!) as DockerDriver;
    expect(of("web")).to.equal(of("client")).and.to.be.instanceOf(DockerDriver);
    expect(of("dns")).to.equal(of("bclient"));
    expect(of("dns")).to.not.equal(of("web"));
    expect([of("web").endpoint, of("dns").endpoint]).to.deep.equal(["unix:///var/run/docker.sock", BRANCH]);
    expect(reg.get("docker")).to.equal(of("web"));
    expect(reg.groupsOf(lab).map((g) => [g.key, g.machines.map((m) => m.name)])).to.deep.equal([
      ["docker:unix:///var/run/docker.sock", ["client", "web"]],
      [`docker:${BRANCH}`, ["bclient", "dns"]],
    ]);
    // Each driver owns only its engine's machines.
    expect(lab.machines.filter((m) => of("dns").owns(lab, m)).map((m) => m.name)).to.deep.equal(["bclient", "dns"]);
  });

  it("suites probe a machine from the client on its own engine, with that engine's address", async () => {
    const { lab } = await load(labYaml({ sites: BRANCH_SITE }));
    const handles = (await new Drivers().handles(lab)) as (MachineHandle & { lab: Lab })[];
    const by = (n: string) => handles.find((h) => h.spec.name === n)!;
    expect(clientFor(by("dns"), handles)).to.deep.include({ client: by("bclient"), engine: { url: BRANCH } });
    expect(clientFor(by("web"), handles)).to.deep.include({ client: by("client"), engine: undefined });
    // A client under test is its own vantage point, on either engine.
    expect(clientFor(by("bclient"), handles)).to.deep.include({ client: by("bclient"), engine: { url: BRANCH } });
    expect(clientFor(by("client"), handles)).to.deep.include({ client: by("client") });
  });
});
