// What the orchestrator hands the gate: every required result, or its explicit absence.
import { expect } from "chai";
import { fakeLab } from "../../../harness/lab/roles/testing.ts";
import type { MachineHandle } from "../../../harness/lab/types.ts";
import type { PatchArtifact } from "../../../harness/patch/deb.ts";
import { decide } from "../../../harness/gate/gate.ts";
import { gateInput, targetsOf } from "../../../harness/run/orchestrator.ts";
import type { StepRecord, SuiteRecord } from "../../../harness/run/machine-pipeline.ts";

const artifact = (id: string, roles: ("web" | "db" | "ssh")[]): PatchArtifact => ({
  patch: { id, title: id, vendor: "t", severity: "moderate", kind: "deb", deb: { file: "x.deb" }, appliesTo: { roles }, restart: "none", cves: [] },
  manifestFile: "/x.yaml", debFile: "/x.deb", package: `pkg-${id}`, version: "1.0", payload: [{ package: `pkg-${id}`, version: "1.0" }],
});
const { handles: machines } = fakeLab([{ name: "web", roles: ["web"], ip: "172.30.99.10" }, { name: "db", roles: ["db"], ip: "172.30.99.11" }, { name: "client", roles: ["client"], ip: "172.30.99.12" }]);
const web = machines[0]!;
const passed = { suite: "web", crashed: false, detail: "", tests: [{ name: "serves", status: "passed" as const, durationMs: 1 }] };
const step = (patch: string, kind: "install" | "uninstall", status: StepRecord["status"]): StepRecord => ({ machine: "web", patch, step: kind, status, message: status, start: 0, stop: 0 });

describe("orchestrator: targets and gate input", () => {
  it("a patch goes to every machine having one of its roles", () => {
    const t = targetsOf(machines, [artifact("W", ["web"]), artifact("D", ["db"])]);
    expect([...t].map(([m, as]) => `${m.spec.name}:${as.map((a) => a.patch.id)}`)).to.deep.equal(["web:W", "db:D"]);
  });

  it("all three phases passing with clean steps approves", () => {
    const a = artifact("W", ["web"]);
    const suites: SuiteRecord[] = (["baseline", "post-install", "post-uninstall"] as const).map((phase) => ({ machine: "web", phase, result: passed, ...(phase === "baseline" ? {} : { patch: "W" }) }));
    const d = decide(gateInput([a], targetsOf(machines, [a]), [step("W", "install", "passed"), step("W", "uninstall", "passed")], suites));
    expect(d.patches[0]!.verdict).to.equal("approved");
  });

  it("a required phase that produced nothing is missing and never approves", () => {
    const a = artifact("W", ["web"]);
    const suites: SuiteRecord[] = [{ machine: "web", phase: "baseline", result: passed }, { machine: "web", phase: "post-install", patch: "W", result: passed }];
    const input = gateInput([a], targetsOf(machines, [a]), [step("W", "install", "passed"), step("W", "uninstall", "passed")], suites);
    expect(input.patches[0]!.suites.find((s) => s.phase === "post-uninstall")!.result).to.equal(null);
    expect(decide(input).patches[0]!.verdict).to.equal("needs-review");
  });

  it("another patch's post-install results are not counted for this patch", () => {
    const [a, b] = [artifact("A", ["web"]), artifact("B", ["web"])];
    const suites: SuiteRecord[] = [{ machine: "web", phase: "baseline", result: passed }, { machine: "web", phase: "post-install", patch: "A", result: passed }];
    const input = gateInput([a, b], targetsOf(machines, [a, b]), [], suites);
    expect(input.patches[1]!.suites.find((s) => s.phase === "post-install")!.result).to.equal(null);
  });

  it("a patch no lab machine receives is not-run, so it needs review", () => {
    const a = artifact("S", ["ssh"]);
    const input = gateInput([a], targetsOf(machines, [a]), [], []);
    expect(input.patches[0]!.install[0]!.outcome.status).to.equal("not-run");
    expect(decide(input).patches[0]!.verdict).to.equal("needs-review");
  });

  it("a broken install (lab error) is not-run, not a patch failure", () => {
    const a = artifact("W", ["web"]);
    const input = gateInput([a], targetsOf(machines, [a]), [step("W", "install", "broken")], [{ machine: "web", phase: "baseline", result: passed }]);
    expect(input.patches[0]!.install[0]!.outcome.status).to.equal("not-run");
    expect(decide(input).patches[0]!.verdict).to.equal("needs-review");
  });

  it("a patch skipped because the machine could not be restored exactly needs review, saying why", () => {
    const a = artifact("W", ["web"]);
    const dirty: StepRecord = { machine: "web", patch: "W", step: "restore", status: "broken", message: "restore before W not exact: file /etc/x: added", start: 0, stop: 0 };
    const input = gateInput([a], targetsOf(machines, [a]), [dirty], [{ machine: "web", phase: "baseline", result: passed }]);
    expect(input.patches[0]!.install[0]!.outcome).to.deep.equal({ status: "not-run", reason: "not verified: restore before W not exact: file /etc/x: added" });
    expect(decide(input).patches[0]!.verdict).to.equal("needs-review");
  });
});
