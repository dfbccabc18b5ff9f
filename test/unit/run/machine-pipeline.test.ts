// The per-machine lifecycle against a fake lab: the order of steps, one patch at a time on a
// freshly restored machine, and the snapshot restored whatever goes wrong.
import { expect } from "chai";
import { LabError } from "../../../harness/core/errors.ts";
import { nullLogger } from "../../../harness/core/log.ts";
import { fakeLab } from "../../../harness/lab/roles/testing.ts";
import type { Connection, ExecResult, LabDriver, MachineHandle, SnapshotRef } from "../../../harness/lab/types.ts";
import type { PatchArtifact, PatchProvisioner, StepOutcome } from "../../../harness/patch/deb.ts";
import type { SuiteRunResult } from "../../../harness/report/outcome-model.ts";
import { runMachinePipeline, type Blame, type Mode, type StepRecord, type SuiteRecord } from "../../../harness/run/machine-pipeline.ts";
import { buildGateInput } from "../../../harness/run/gate-input.ts";
import { patchTargets, requirementsFor } from "../../../harness/run/orchestrator.ts";
import { decide } from "../../../harness/gate/gate.ts";

interface State { packages: Record<string, string>; files: Record<string, string>; serving: boolean }
const clone = (s: State): State => JSON.parse(JSON.stringify(s));

/** A machine whose state the fake driver snapshots and restores, and whose fingerprint it renders. */
class FakeLab implements LabDriver {
  state: State = { packages: { nginx: "1.22" }, files: { "/etc/nginx/nginx.conf": "a".repeat(64) }, serving: true };
  snaps = new Map<string, State>();
  events: string[] = [];
  restoreLeaves?: (s: State) => void;

  async up(): Promise<MachineHandle[]> { return []; }
  async handles(): Promise<MachineHandle[]> { return []; }
  async status() { return []; }
  async snapshots(): Promise<SnapshotRef[]> { return []; }
  async down() {}
  async snapshot(m: MachineHandle, label: string): Promise<SnapshotRef> {
    this.events.push("snapshot");
    this.snaps.set(label, clone(this.state));
    return { lab: m.lab.name, machine: m.spec.name, label, ref: label, createdAt: "" };
  }
  async restore(_m: MachineHandle, ref: SnapshotRef): Promise<void> {
    this.events.push("restore");
    this.state = clone(this.snaps.get(ref.label)!);
    this.restoreLeaves?.(this.state);
  }
  async deleteSnapshot(ref: SnapshotRef): Promise<void> {
    this.events.push("delete-snapshot");
    this.snaps.delete(ref.label);
  }
  connect(m: MachineHandle): Connection {
    const lab = this;
    return {
      machine: m.spec.name,
      async exec(cmd): Promise<ExecResult> {
        const script = Array.isArray(cmd) ? cmd.join(" ") : cmd;
        const ok = (stdout: string): ExecResult => ({ exitCode: 0, stdout, stderr: "", durationMs: 0 });
        if (script.includes("--patchlab-restart--")) return ok(["", "", "S nginx running", "", ""].join("--patchlab-restart--\n"));
        if (!script.includes("--patchlab-state--")) return ok("");
        // The sections machineState reads: packages, passwd, group, boot, files, hashes, services, sockets.
        const s = lab.state;
        return ok([
          Object.entries(s.packages).map(([p, v]) => `${p}\t${v}\tii `).join("\n"),
          "root:x:0:0:root:/root:/bin/sh",
          "root:x:0:",
          "",
          Object.keys(s.files).map((f) => `f\t644\troot:root\t10\t${f}\t\t1:1`).join("\n"),
          Object.entries(s.files).map(([f, h]) => `${h}  ${f}`).join("\n"),
          "nginx running",
          s.serving ? "tcp 00000000:0050" : "",
        ].join("\n--patchlab-state--\n") + "\n");
      },
      async upload() {},
      async download() { return Buffer.alloc(0); },
      async restart() {},
      async waitUntilReady() {},
    };
  }
}

type Behaviour = "good" | "breaks" | "failInstall" | "throwInstall" | `breaksWith:${string}`;

/** Patches change the fake machine; `breaks` stops it serving, `breaksWith:X` only when X is installed too. */
class FakeProvisioner implements PatchProvisioner {
  constructor(private lab: FakeLab, private behaviour: Record<string, Behaviour>) {}
  async isInstalled(_c: Connection, a: PatchArtifact) { return this.lab.state.packages[a.package] !== undefined; }
  private recompute() {
    const installed = Object.keys(this.lab.state.packages).filter((p) => p.startsWith("pkg-")).map((p) => p.slice(4));
    this.lab.state.serving = !installed.some((id) => {
      const b = this.behaviour[id]!;
      return b === "breaks" || (b.startsWith("breaksWith:") && installed.includes(b.slice("breaksWith:".length)));
    });
  }
  async install(_c: Connection, a: PatchArtifact): Promise<StepOutcome> {
    const b = this.behaviour[a.patch.id]!;
    const others = Object.keys(this.lab.state.packages).filter((p) => p.startsWith("pkg-"));
    this.lab.events.push(`install ${a.patch.id} on ${others.length ? `a machine with ${others.map((o) => o.slice(4)).join("+")}` : "clean machine"}`);
    if (b === "throwInstall") throw new LabError("exec", "engine went away", "retry");
    if (b === "failInstall") return { ok: false, message: "dpkg exited 1", output: "", durationMs: 1 };
    this.lab.state.packages[a.package] = a.version;
    this.recompute();
    return { ok: true, message: "installed", output: "", durationMs: 1 };
  }
  async uninstall(_c: Connection, a: PatchArtifact): Promise<StepOutcome> {
    this.lab.events.push(`uninstall ${a.patch.id}`);
    delete this.lab.state.packages[a.package];
    this.recompute();
    return { ok: true, message: "removed", output: "", durationMs: 1 };
  }
}

/** Installs a group as one transaction (as apt does): all or nothing. */
class TransactionalProvisioner extends FakeProvisioner {
  constructor(lab: FakeLab, private readonly b: Record<string, Behaviour>) {
    super(lab, b);
  }
  combine(_c: Connection, group: PatchArtifact[]): PatchArtifact | undefined {
    return { ...group[0]!, patch: { ...group[0]!.patch, id: group.map((a) => a.patch.id).join("+") }, members: group };
  }
  override async isInstalled(c: Connection, a: PatchArtifact) {
    for (const m of a.members ?? [a]) if (!(await super.isInstalled(c, m))) return false;
    return true;
  }
  override async install(c: Connection, a: PatchArtifact): Promise<StepOutcome> {
    if (!a.members) return super.install(c, a);
    if (a.members.some((m) => this.b[m.patch.id] === "failInstall")) return { ok: false, message: "dpkg exited 1 in the transaction", output: "", durationMs: 1 };
    for (const m of a.members) await super.install(c, m);
    return { ok: true, message: "installed", output: "", durationMs: 1 };
  }
  override async uninstall(c: Connection, a: PatchArtifact): Promise<StepOutcome> {
    for (const m of [...(a.members ?? [a])].reverse()) await super.uninstall(c, m);
    return { ok: true, message: "removed", output: "", durationMs: 1 };
  }
}

const { handles } = fakeLab([{ name: "web", roles: ["web"], ip: "172.30.99.10" }, { name: "client", roles: ["client"], ip: "172.30.99.11" }]);
const [web, client] = [handles[0]!, handles[1]!];
const artifact = (id: string): PatchArtifact => ({
  patch: { id, title: id, vendor: "t", severity: "moderate", kind: "deb", deb: { file: "x.deb" }, appliesTo: { roles: ["web"] }, restart: "none", cves: [] },
  manifestFile: "/x.yaml", debFile: "/x.deb", package: `pkg-${id}`, version: "1.0", payload: [{ package: `pkg-${id}`, version: "1.0" }],
});

async function pipeline(fake: FakeLab, behaviour: Record<string, Behaviour>, opts: { suiteFails?: (phase: string) => Error | undefined; mode?: Mode; transactions?: boolean; suspects?: Set<string> } = {}) {
  const steps: StepRecord[] = [];
  const suites: SuiteRecord[] = [];
  const blames: Blame[] = [];
  const artifacts = Object.keys(behaviour).map(artifact);
  let thrown: unknown;
  try {
    await runMachinePipeline({
      driver: fake, machine: web, all: [web, client], artifacts, mode: opts.mode ?? "chain",
      requirements: new Map(artifacts.map((a) => [a.patch.id, requirementsFor(web, a)])),
      provisioner: opts.transactions ? new TransactionalProvisioner(fake, behaviour) : new FakeProvisioner(fake, behaviour), runId: "r1",
      ...(opts.suspects ? { suspects: opts.suspects } : {}), runDir: "/tmp/none", caCertPath: "/ca.pem",
      log: nullLogger, deadlineMs: 1000,
      runSuite: async (_suite, _ctx, phase): Promise<SuiteRunResult> => {
        fake.events.push(`suite ${phase}`);
        const err = opts.suiteFails?.(phase);
        if (err) throw err;
        return { suite: "web", crashed: false, detail: "", tests: [{ name: "serves", status: fake.state.serving ? "passed" : "failed", durationMs: 1 }] };
      },
      hooks: { step: (r) => steps.push(r), suite: (r) => suites.push(r), blame: (b) => blames.push(b), note: () => {}, progress: () => {} },
    });
  } catch (e) {
    thrown = e;
  }
  const verdicts = () => {
    const input = buildGateInput(patchTargets(artifacts, new Map([[web, artifacts]]), "unit"), steps, suites, { today: "2026-11-27", waivers: [], blames });
    return Object.fromEntries(decide(input).patches.map((p) => [p.patch, p.verdict]));
  };
  return { steps, suites, blames, thrown, verdicts };
}

describe("machine pipeline (fake lab)", () => {
  it("one patch: snapshot, baseline, install, post-install, uninstall, post-uninstall, restore, in that order", async () => {
    const fake = new FakeLab();
    const { steps, verdicts } = await pipeline(fake, { P1: "good" });
    expect(fake.events).to.deep.equal([
      "snapshot", "suite baseline", "install P1 on clean machine", "suite post-install", "install P1 on a machine with P1", "uninstall P1", "suite post-uninstall", "restore", "delete-snapshot",
    ]);
    expect(steps.map((s) => `${s.step}:${s.status}`)).to.deep.equal(["install:passed", "restart:passed", "idempotence:passed", "uninstall:passed", "residue:passed", "restore:passed", "pipeline:passed"]);
    expect(steps.find((s) => s.step === "restore")!.patch, "the restore is the rollback check of the patch just verified").to.equal("P1");
    expect(verdicts()).to.deep.equal({ P1: "approved" });
  });

  it("chained: a machine's patches are installed together, checked once, removed in reverse order", async () => {
    const fake = new FakeLab();
    const { steps, suites, verdicts } = await pipeline(fake, { P1: "good", P2: "good" });
    expect(fake.events).to.deep.equal([
      "snapshot", "suite baseline", "install P1 on clean machine", "install P2 on a machine with P1", "suite post-install",
      "install P1 on a machine with P1+P2", "install P2 on a machine with P1+P2",
      "uninstall P2", "uninstall P1", "suite post-uninstall", "restore", "delete-snapshot",
    ]);
    expect(suites.filter((s) => s.phase === "post-install").map((s) => s.group)).to.deep.equal([["P1", "P2"]]);
    expect(steps.find((s) => s.step === "restore")!.group).to.deep.equal(["P1", "P2"]);
    expect(verdicts()).to.deep.equal({ P1: "approved", P2: "approved" });
  });

  it("isolate: each patch alone on a freshly restored machine", async () => {
    const fake = new FakeLab();
    const { suites, verdicts } = await pipeline(fake, { P1: "breaks", P2: "good" }, { mode: "isolate" });
    expect(fake.events.filter((e) => (e.startsWith("install") && e.includes("clean")) || e === "restore")).to.deep.equal(["install P1 on clean machine", "restore", "install P2 on clean machine", "restore"]);
    expect(suites.filter((s) => s.phase === "post-install").map((s) => `${s.patch}:${s.result.tests[0]!.status}`)).to.deep.equal(["P1:failed", "P2:passed"]);
    expect(verdicts()).to.deep.equal({ P1: "rejected", P2: "approved" });
  });

  it("a rejected aggregate is bisected: each patch alone, and blame names the one that fails alone", async () => {
    const fake = new FakeLab();
    const { blames, verdicts } = await pipeline(fake, { P1: "good", P2: "breaks", P3: "good" });
    expect(blames).to.have.length(1);
    expect(blames[0]).to.include({ machine: "web" });
    expect(blames[0]!.culprits).to.deep.equal(["P2"]);
    expect(fake.events.filter((e) => e.startsWith("install") && e.includes("clean"))).to.deep.equal([
      "install P1 on clean machine", "install P1 on clean machine", "install P2 on clean machine", "install P3 on clean machine",
    ]);
    expect(verdicts()).to.deep.equal({ P1: "approved", P2: "rejected", P3: "approved" });
  });

  it("two patches that each pass alone and break together: blame names the pair", async () => {
    const fake = new FakeLab();
    const { blames, verdicts } = await pipeline(fake, { A: "breaksWith:C", B: "good", C: "good" });
    expect(blames[0]!.culprits).to.deep.equal(["A", "C"]);
    expect(blames[0]!.message).to.match(/together A \+ C break it/);
    expect(verdicts()).to.deep.equal({ A: "rejected", B: "approved", C: "rejected" });
  });

  it("patches of a kind that installs in one transaction go in together; a culprit among six is found by parts, not six single runs", async () => {
    const fake = new FakeLab();
    const suspects = new Set<string>();
    const { steps, blames, verdicts } = await pipeline(fake, { P1: "good", P2: "good", P3: "good", P4: "breaks", P5: "good", P6: "good" }, { transactions: true, suspects });
    const installs = steps.filter((s) => s.step === "install" && s.group?.length === 6);
    expect(installs.map((s) => `${s.patch}:${s.status}`)).to.deep.equal(["P1:passed", "P2:passed", "P3:passed", "P4:passed", "P5:passed", "P6:passed"]);
    expect(installs[0]!.message).to.match(/^installed in one transaction with P2, P3, P4, P5, P6: /);
    // The aggregate, then P1-P3 (passes) and P4-P6 (fails), then P4, P5, P6 alone: five verifications, not 1 + 6.
    expect(steps.filter((s) => s.step === "restore").map((s) => s.group?.join("+") ?? s.patch)).to.deep.equal(["P1+P2+P3+P4+P5+P6", "P1+P2+P3", "P4+P5+P6", "P4", "P5", "P6"]);
    expect(blames.map((b) => b.culprits)).to.deep.equal([["P4"], ["P4"]]);
    expect([...suspects], "what failed alone is suspected first on the next machine").to.deep.equal(["P4"]);
    expect(verdicts()).to.deep.equal({ P1: "approved", P2: "approved", P3: "approved", P4: "rejected", P5: "approved", P6: "approved" });
  });

  it("a suspect from another machine is verified apart first: the aggregate, the rest, the suspect", async () => {
    const fake = new FakeLab();
    const { steps, verdicts } = await pipeline(fake, { P1: "good", P2: "good", P3: "breaks", P4: "good", P5: "good" }, { transactions: true, suspects: new Set(["P3"]) });
    expect(steps.filter((s) => s.step === "restore").map((s) => s.group?.join("+") ?? s.patch)).to.deep.equal(["P1+P2+P3+P4+P5", "P1+P2+P4+P5", "P3"]);
    expect(verdicts()).to.deep.equal({ P1: "approved", P2: "approved", P3: "rejected", P4: "approved", P5: "approved" });
  });

  it("a failed transaction fails the aggregate; the patch that fails alone is found and the others approved", async () => {
    const fake = new FakeLab();
    const { steps, verdicts } = await pipeline(fake, { P1: "good", P2: "failInstall", P3: "good" }, { transactions: true });
    expect(steps.filter((s) => s.step === "install" && s.group).map((s) => `${s.patch}:${s.status}`)).to.deep.equal(["P1:failed", "P2:failed", "P3:failed"]);
    expect(verdicts()).to.deep.equal({ P1: "approved", P2: "rejected", P3: "approved" });
  });

  it("a failed install in the chain stops it; the patches are then verified alone", async () => {
    const fake = new FakeLab();
    const { steps, verdicts } = await pipeline(fake, { P1: "failInstall", P2: "good" });
    const chained = steps.filter((s) => s.group && s.step === "install").map((s) => `${s.patch}:${s.status}`);
    expect(chained).to.deep.equal(["P1:failed", "P2:skipped"]);
    expect(verdicts()).to.deep.equal({ P1: "rejected", P2: "approved" });
  });

  it("a lab error during install is broken (not failed), and the machine is still restored", async () => {
    const fake = new FakeLab();
    const { steps, verdicts } = await pipeline(fake, { P1: "throwInstall" });
    expect(steps.find((s) => s.step === "install")!.status).to.equal("broken");
    expect(fake.events).to.include("restore");
    expect(verdicts()).to.deep.equal({ P1: "needs-review" });
  });

  it("a lab error mid-pipeline aborts it, is recorded as broken, and restores the snapshot", async () => {
    const fake = new FakeLab();
    const { steps, thrown, verdicts } = await pipeline(fake, { P1: "breaks" }, { suiteFails: (phase) => (phase === "post-install" ? new LabError("exec", "client vanished", "retry") : undefined) });
    expect(thrown).to.equal(undefined);
    expect(steps.at(-1)).to.include({ step: "pipeline", status: "broken" });
    expect(steps.at(-1)!.message).to.match(/client vanished/);
    expect(fake.state.serving).to.equal(true);
    expect(fake.events.slice(-2)).to.deep.equal(["restore", "delete-snapshot"]);
    expect(verdicts()).to.deep.equal({ P1: "needs-review" });
  });

  it("a restore that is not exact is reported broken with the differences", async () => {
    const fake = new FakeLab();
    fake.restoreLeaves = (s) => { s.files["/etc/leftover.conf"] = "f".repeat(64); };
    const { steps, verdicts } = await pipeline(fake, { P1: "good" });
    const restore = steps.find((s) => s.step === "restore")!;
    expect(restore.status).to.equal("broken");
    expect(restore.message).to.match(/\/etc\/leftover\.conf/);
    expect(verdicts()).to.deep.equal({ P1: "needs-review" });
  });

  it("a patch is not verified on a machine whose restore was not exact (it is left undecided, not blamed)", async () => {
    const fake = new FakeLab();
    fake.restoreLeaves = (s) => { s.packages["leftover"] = "1"; };
    const { steps, verdicts } = await pipeline(fake, { P1: "good", P2: "good" }, { mode: "isolate" });
    expect(steps.find((s) => s.patch === "P1" && s.step === "restore")!.message).to.match(/restore after P1 not exact.*leftover/);
    const p2 = steps.filter((s) => s.patch === "P2");
    expect(p2.map((s) => `${s.step}:${s.status}`)).to.deep.equal(["install:skipped"]);
    expect(p2[0]!.message).to.match(/not verified: the machine could not be restored exactly after P1/);
    expect(fake.events.filter((e) => e.startsWith("install") && e.includes("clean"))).to.deep.equal(["install P1 on clean machine"]);
    expect(verdicts()).to.deep.equal({ P1: "needs-review", P2: "needs-review" });
  });
});

