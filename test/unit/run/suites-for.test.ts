// Which suites a machine gets comes from the lab file: each role its role suite, each
// application its app suites (when applications are required); a role or application with
// no suite is a located ConfigError when the lab is loaded, not a silent "needs review" later.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { expect } from "chai";
import { loadLab } from "../../../harness/config/loader.ts";
import { suitesFor } from "../../../harness/run/suites-for.ts";
import { configErrorsOf, repoRoot } from "../config/helpers.ts";

const machine = (roles: string[], applications: string[] = []) => ({ spec: { roles, applications } }) as Parameters<typeof suitesFor>[0];

describe("suites-for: the suites a machine gets", () => {
  let saved: string | undefined;
  let dir: string;

  beforeEach(() => {
    saved = process.env.PATCHLAB_SUITES_DIR;
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "patchlab-suites-for-"));
  });
  afterEach(() => {
    if (saved === undefined) delete process.env.PATCHLAB_SUITES_DIR;
    else process.env.PATCHLAB_SUITES_DIR = saved;
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it("the shipped suites: one per role (the client's checks the client itself), app suites only when applications are required", () => {
    const full = { depth: "full", applications: true } as const;
    expect(suitesFor(machine(["dns"]), full)).to.deep.equal(["roles/dns"]);
    expect(suitesFor(machine(["web", "ssh"]), full)).to.deep.equal(["roles/web", "roles/ssh"]);
    expect(suitesFor(machine(["client"]), full)).to.deep.equal(["roles/client"]);
    expect(suitesFor(machine(["updates"]), full), "the update server is the lab's machinery").to.deep.equal([]);
    expect(suitesFor(machine(["app"], ["dokuwiki"]), full)).to.deep.equal(["roles/app", "apps/dokuwiki/wiki"]);
    expect(suitesFor(machine(["app"], ["dokuwiki"]), { depth: "limited", applications: false })).to.deep.equal(["roles/app"]);
    for (const s of suitesFor(machine(["web", "dns", "db", "file", "ssh", "app", "client"], ["dokuwiki"]), full)) {
      expect(fs.existsSync(path.join(repoRoot, "suites", `${s}.spec.ts`)), s).to.equal(true);
    }
  });

  it("app suites are every spec file of suites/apps/<app>/, sorted", () => {
    process.env.PATCHLAB_SUITES_DIR = dir;
    fs.mkdirSync(path.join(dir, "apps/dokuwiki"), { recursive: true });
    fs.mkdirSync(path.join(dir, "roles"), { recursive: true });
    for (const f of ["roles/app.spec.ts", "apps/dokuwiki/wiki.spec.ts", "apps/dokuwiki/admin.spec.ts", "apps/dokuwiki/notes.md"]) fs.writeFileSync(path.join(dir, f), "");
    expect(suitesFor(machine(["app"], ["dokuwiki"]), { depth: "full", applications: true })).to.deep.equal(["roles/app", "apps/dokuwiki/admin", "apps/dokuwiki/wiki"]);
  });

  it("a role or an application without a suite is a ConfigError at lab load, naming file, line, field and remedy", async () => {
    process.env.PATCHLAB_SUITES_DIR = dir;
    fs.mkdirSync(path.join(dir, "roles"), { recursive: true });
    fs.writeFileSync(path.join(dir, "roles/web.spec.ts"), "");
    fs.writeFileSync(path.join(dir, "roles/client.spec.ts"), "");
    const lab = path.join(dir, "lab.yaml");
    fs.writeFileSync(
      lab,
      [
        "name: nosuite",
        "domain: lab.test",
        "network: { subnet: 172.30.91.0/24 }",
        "machines:",
        "  - { name: web, image: web, roles: [web, ssh], owner: { name: t, contact: t@x.org }, site: hq, criticality: low }",
        "  - { name: app, image: app, roles: [app], applications: [dokuwiki], owner: { name: t, contact: t@x.org }, site: hq, criticality: low }",
        "  - { name: client, image: client, roles: [client], owner: { name: t, contact: t@x.org }, site: hq, criticality: low }",
        "",
      ].join("\n"),
    );
    const errors = await configErrorsOf(loadLab(lab));
    expect(errors.map((e) => [e.line, e.field])).to.deep.equal([
      [5, "machines[0].roles[1]"],
      [6, "machines[1].roles[0]"],
      [6, "machines[1].applications[0]"],
    ]);
    expect(errors[0]!.file).to.equal(lab);
    expect(errors[0]!.message).to.match(/machine 'web' plays role "ssh", which has no suite \(.*roles\/ssh\.spec\.ts does not exist\)/);
    expect(errors[0]!.remedy).to.match(/write .*roles\/ssh\.spec\.ts .*or remove the role from the machine/);
    expect(errors[2]!.message).to.match(/machine 'app' hosts application "dokuwiki", which has no suite/);
    expect(errors[2]!.remedy).to.match(/apps\/dokuwiki\/<name>\.spec\.ts/);
  });
});
