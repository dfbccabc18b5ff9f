// The plan: severity x applicability -> phases per policy, severity from the urgency or an
// override, and the markdown plan people read (owners, machines, phases, rollback).
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { expect } from "chai";
import type { LoadedBatch } from "../../../harness/config/loader.ts";
import type { Lab, Patch } from "../../../harness/config/schemas.ts";
import { ConfigErrors } from "../../../harness/core/errors.ts";
import { planMarkdown } from "../../../harness/plan/markdown.ts";
import { loadPlan, loadPolicy, planBatch } from "../../../harness/plan/plan.ts";
import { aptPatch, inv } from "../inventory/helpers.ts";

const owner = (name: string) => ({ name: `${name} team`, contact: `${name}@corp.example` });
const lab: Lab = {
  name: "planlab",
  domain: "plan.test",
  network: { subnet: "172.30.99.0/24" },
  machines: [
    { name: "web", image: "web", roles: ["web"], applications: [], suites: [], owner: owner("web"), site: "hq", criticality: "high" },
    { name: "db", image: "db", roles: ["db"], applications: [], suites: [], owner: owner("dba"), site: "hq", criticality: "critical" },
    { name: "client", image: "client", roles: ["client"], applications: [], suites: [], owner: owner("desk"), site: "hq", criticality: "low" },
    { name: "updates", image: "updates", roles: ["updates"], applications: [], suites: [], owner: owner("patch"), site: "hq", criticality: "medium" },
  ],
};

const deb: Patch = { id: "HAND-1", title: "hand-made", vendor: "acme", severity: "moderate", cves: [], restart: "none", kind: "deb", deb: { file: "x.deb" }, appliesTo: { roles: ["web"] } };
const patches: Patch[] = [
  aptPatch("CRIT", "openssl", "3.0.22-1", ["libssl3"], {}, { urgency: "emergency" }),
  aptPatch("IMP", "nginx", "1.22.1-9+deb12u11", ["nginx", "nginx-common"], {}, { urgency: "high" }),
  deb,
  aptPatch("LOW", "tzdata", "2026f-0", ["tzdata"], {}, { urgency: "low" }),
  aptPatch("NA", "samba", "2:4.17.12", ["samba"], {}, { urgency: "high" }),
];
const batch: LoadedBatch = { batch: { name: "mixed", patches: ["x"], lab: "planlab" }, file: "/x/batch.yaml", lab: { lab, file: "/x/lab.yaml" }, patches: patches.map((p) => ({ patch: p, file: `/x/${p.id}.yaml`, debPath: "" })) };
const inventories = [
  inv("web", { libssl3: "3.0.20-1", nginx: "1.22.1-9+deb12u9", "nginx-common": "1.22.1-9+deb12u9", tzdata: "2026b-0" }),
  inv("db", { libssl3: "3.0.22-1", tzdata: "2026b-0" }, ["db"]),
  inv("client", { libssl3: "3.0.20-1", tzdata: "2026f-0" }, ["client"]),
];

describe("plan: severity x applicability -> phases", () => {
  it("derives each severity's phases from the default policy and marks the not-applicable patch", async () => {
    const policy = await loadPolicy("default");
    const plan = planBatch({ batch, policy, inventories, now: new Date("2026-11-27T00:00:00Z") });
    const row = (id: string) => plan.patches.find((p) => p.patch === id)!;
    expect(row("CRIT")).to.deep.include({ severity: "critical", applicability: "applicable", phases: ["baseline", "install", "post-install"], depth: "limited", applications: false });
    expect(row("CRIT").machines).to.deep.equal(["web", "client"]); // db already has it; updates is infrastructure
    expect(row("IMP")).to.deep.include({ severity: "important", phases: ["baseline", "install", "post-install", "uninstall", "post-uninstall"], depth: "full", applications: false });
    expect(row("HAND-1")).to.deep.include({ severity: "moderate", machines: ["web"], depth: "full", applications: false });
    expect(row("HAND-1").phases).to.include("post-uninstall");
    expect(row("LOW")).to.deep.include({ severity: "low", applications: true, machines: ["web", "db"] });
    expect(row("NA")).to.deep.include({ applicability: "not-applicable", machines: [], phases: [] });
    expect(row("NA").reason).to.match(/no lab machine has any of its packages \(samba\)/);
    expect(row("IMP").reason).to.match(/changelog urgency high/);
    expect(plan).to.deep.include({ schemaVersion: 1, batch: "mixed", lab: "planlab", policy: "default", createdAt: "2026-11-27T00:00:00.000Z" });
  });

  it("a command-line override wins over the urgency; an update installed everywhere is not applicable", async () => {
    const policy = await loadPolicy("default");
    const plan = planBatch({ batch, policy, inventories: [inventories[1]!, inv("web", { libssl3: "3.0.22-1" }), inv("client", { libssl3: "3.0.22-1" }, ["client"])], overrides: { IMP: "low" } });
    expect(plan.patches.find((p) => p.patch === "IMP")).to.deep.include({ severity: "low" });
    expect(plan.patches.find((p) => p.patch === "IMP")!.reason).to.match(/command-line override/);
    expect(plan.patches.find((p) => p.patch === "CRIT")).to.deep.include({ applicability: "not-applicable" });
    expect(plan.patches.find((p) => p.patch === "CRIT")!.reason).to.match(/already installed on every machine/);
  });

  it("writes a markdown plan with owners, contacts, machines, phases and an exact rollback", async () => {
    const policy = await loadPolicy("default");
    const plan = planBatch({ batch, policy, inventories });
    const md = planMarkdown(plan, lab, patches, inventories);
    expect(md).to.match(/^# Patch application plan: mixed/);
    expect(md).to.include("| web | web | web team | web@corp.example | hq | high |");
    expect(md).to.include("apt-get install --allow-downgrades nginx=1.22.1-9+deb12u9 nginx-common=1.22.1-9+deb12u9");
    expect(md).to.include("baseline → install → post-install");
    expect(md).to.match(/## NA: [^\n]*\n\n[^]*\*\*Not applicable\*\*/);
    expect(md).to.match(/## Who to contact\n\n- web team <web@corp.example>: web/);
  });

  it("saves and reloads plan.json through its schema; a bad policy is refused with located errors", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "patchlab-plan-"));
    try {
      const plan = planBatch({ batch, policy: await loadPolicy("default"), inventories });
      fs.writeFileSync(path.join(dir, "plan.json"), JSON.stringify(plan));
      expect(loadPlan(path.join(dir, "plan.json"))).to.deep.equal(plan);
      fs.writeFileSync(path.join(dir, "bad.json"), JSON.stringify({ ...plan, schemaVersion: 2 }));
      expect(() => loadPlan(path.join(dir, "bad.json"))).to.throw(/schemaVersion/);
      const text = fs.readFileSync(path.join(process.cwd(), "lab-config/policies/default.yaml"), "utf8").replace("phases: [baseline, install, post-install]\n", "phases: [install, baseline]\n");
      fs.writeFileSync(path.join(dir, "bad.yaml"), text);
      const err = await loadPolicy(path.join(dir, "bad.yaml")).then(() => undefined, (e: unknown) => e);
      expect(err).to.be.instanceOf(ConfigErrors);
      expect((err as ConfigErrors).errors[0]!.field).to.equal("rules.critical.phases");
      expect((err as ConfigErrors).errors[0]!.message).to.match(/lifecycle order/);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
