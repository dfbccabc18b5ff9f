import { expect } from "chai";
import { fakeLab } from "../../../harness/lab/roles/testing.ts";
import type { PatchArtifact } from "../../../harness/patch/types.ts";
import { decide } from "../../../harness/gate/gate.ts";
import { requirementsFor, patchTargets, problemsOf, targetsOf } from "../../../harness/run/orchestrator.ts";
import { buildGateInput, requiredOn } from "../../../harness/run/gate-input.ts";
import type { StepRecord, SuiteRecord } from "../../../harness/run/machine-pipeline.ts";
import { ConfigError, ConfigErrors } from "../../../harness/core/errors.ts";

const artifact = (id: string, roles: ("web" | "db" | "ssh")[]): PatchArtifact => ({
  patch: { id, title: id, vendor: "t", severity: "moderate", kind: "deb", deb: { file: "x.deb" }, appliesTo: { roles }, restart: "none", cves: [] },
  manifestFile: "/x.yaml", debFile: "/x.deb", package: `pkg-${id}`, version: "1.0", payload: [{ package: `pkg-${id}`, version: "1.0" }],
});
const { handles: machines } = fakeLab([{ name: "web", roles: ["web"], ip: "172.30.99.10" }, { name: "db", roles: ["db"], ip: "172.30.99.11" }, { name: "client", roles: ["client"], ip: "172.30.99.12" }]);
const passed = { suite: "web", crashed: false, detail: "", tests: [{ name: "serves", status: "passed" as const, durationMs: 1 }] };
const step = (patch: string | undefined, kind: StepRecord["step"], status: StepRecord["status"]): StepRecord => ({ machine: "web", ...(patch ? { patch } : {}), step: kind, status, message: status, start: 0, stop: 0 });
const fullRun = (id: string): StepRecord[] => ["install", "restart", "idempotence", "uninstall", "residue", "restore"].map((k) => step(id, k as StepRecord["step"], "passed")).concat([step(undefined, "pipeline", "passed")]);
const suitesOf = (id: string): SuiteRecord[] => (["baseline", "post-install", "post-uninstall"] as const).map((phase) => ({ machine: "web", phase, result: passed, ...(phase === "baseline" ? {} : { patch: id }) }));
const input = (as: PatchArtifact[], steps: StepRecord[], suites: SuiteRecord[]) => buildGateInput(patchTargets(as, targetsOf(machines, as), "ref"), steps, suites, { today: "2026-11-27", waivers: [] });

describe("run: targets and gate input", () => {
  it("a patch goes to every machine having one of its roles", () => {
    const t = targetsOf(machines, [artifact("W", ["web"]), artifact("D", ["db"])]);
    expect([...t].map(([m, as]) => `${m.spec.name}:${as.map((a) => a.patch.id)}`)).to.deep.equal(["web:W", "db:D"]);
  });

  it("by default a machine must show every suite in every phase, and every lifecycle step", () => {
    const r = requiredOn("web", requirementsFor(machines[0]!, artifact("W", ["web"])));
    expect(r.map((x) => `${x.phase}:${x.kind}:${x.name}`)).to.deep.equal([
      "install:step:install", "restart:step:restart", "idempotence:step:idempotence", "uninstall:step:uninstall", "uninstall:step:residue", "restore:step:restore", "pipeline:step:pipeline",
      "baseline:suite:web", "post-install:suite:web", "post-uninstall:suite:web",
    ]);
  });

  it("a plan without uninstall and restart asks for neither", () => {
    const r = requiredOn("web", { phases: ["baseline", "install", "post-install"], suites: ["roles/web"], restart: false });
    expect(r.map((x) => x.name)).to.deep.equal(["install", "restart", "idempotence", "restore", "pipeline", "web", "web"]);
  });

  it("every phase passing with clean steps approves", () => {
    const a = artifact("W", ["web"]);
    expect(decide(input([a], fullRun("W"), suitesOf("W"))).patches[0]!.verdict).to.equal("approved");
  });

  it("a required phase that produced nothing is missing and never approves", () => {
    const a = artifact("W", ["web"]);
    const d = decide(input([a], fullRun("W"), suitesOf("W").filter((s) => s.phase !== "post-uninstall")));
    expect(d.patches[0]!.verdict).to.equal("needs-review");
    expect(d.patches[0]!.reasons[0]).to.include({ outcome: "missing", phase: "post-uninstall" });
  });

  it("another patch's post-install results are not counted for this patch", () => {
    const [a, b] = [artifact("A", ["web"]), artifact("B", ["web"])];
    const i = input([a, b], [...fullRun("A"), ...fullRun("B")], suitesOf("A"));
    expect(i.patches[1]!.evidence.filter((e) => e.kind === "suite").map((e) => e.phase)).to.deep.equal(["baseline"]);
    expect(decide(i).patches.map((p) => p.verdict)).to.deep.equal(["approved", "needs-review"]);
  });

  it("a patch no lab machine receives needs review, saying why", () => {
    const a = artifact("S", ["ssh"]);
    const d = decide(input([a], [], []));
    expect(d.patches[0]!.verdict).to.equal("needs-review");
    expect(d.patches[0]!.reasons[0]!.message).to.match(/no machine in lab ref has a role in \[ssh\]/);
  });

  it("a run that died before its targets were known says so for every patch", () => {
    const a = artifact("W", ["web"]);
    const d = decide(buildGateInput(patchTargets([a], undefined, "ref", "engine unreachable"), [], [], { today: "2026-11-27", waivers: [] }));
    expect(d.verdict).to.equal("needs-review");
    expect(d.patches[0]!.reasons[0]).to.include({ outcome: "broken" });
    expect(d.patches[0]!.reasons[0]!.message).to.match(/stopped before its target machines were known: engine unreachable/);
  });

  it("a broken install (lab error) is undecided, not a patch failure", () => {
    const a = artifact("W", ["web"]);
    const d = decide(input([a], [step("W", "install", "broken"), step("W", "restore", "passed"), step(undefined, "pipeline", "passed")], suitesOf("W").slice(0, 1)));
    expect(d.patches[0]!.verdict).to.equal("needs-review");
  });

  it("a machine-level pipeline failure leaves every patch of that machine undecided", () => {
    const [a, b] = [artifact("A", ["web"]), artifact("B", ["web"])];
    const steps = [...fullRun("A"), ...fullRun("B")].filter((s) => s.step !== "pipeline");
    const d = decide(input([a, b], [...steps, step(undefined, "pipeline", "broken")], [...suitesOf("A"), ...suitesOf("B").slice(1)]));
    expect(d.patches.map((p) => p.verdict)).to.deep.equal(["needs-review", "needs-review"]);
  });

  it("bad input becomes gate.json problems with file, field, line and remedy", () => {
    const e = new ConfigErrors([new ConfigError("unknown role x", "use one of web, dns", { file: "lab.yaml", field: "machines[0].roles[0]", line: 7 })]);
    expect(problemsOf(e)).to.deep.equal([{ file: "lab.yaml", field: "machines[0].roles[0]", line: 7, message: "unknown role x", remedy: "use one of web, dns" }]);
  });
});
