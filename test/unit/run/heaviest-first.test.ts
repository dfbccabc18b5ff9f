// The order machines are started in: the heaviest first, so that no heavy machine starts last
// and holds a slot alone at the end of the run; ties keep the lab file's order.
import { expect } from "chai";
import type { MachineHandle } from "../../../harness/lab/types.ts";
import type { PatchArtifact } from "../../../harness/patch/types.ts";
import { heaviestFirst, inWaves } from "../../../harness/run/orchestrator.ts";

const machine = (name: string, roles: string[], applications: string[] = []) => ({ spec: { name, roles, applications } }) as unknown as MachineHandle;
const patches = (n: number) => Array.from({ length: n }, (_, i) => ({ patch: { id: `P${i}` } }) as unknown as PatchArtifact);

describe("run: heaviest machines start first", () => {
  it("starts the machine with a browser-driven application before lighter ones listed earlier", () => {
    const todo: [MachineHandle, PatchArtifact[]][] = [
      [machine("web", ["web"]), patches(1)],
      [machine("dns", ["dns"]), patches(1)],
      [machine("app", ["web"], ["dokuwiki"]), patches(1)],
    ];
    expect(heaviestFirst(todo).map(([m]) => m.spec.name)).to.deep.equal(["app", "web", "dns"]);
  });

  it("weighs the patches a machine verifies, and keeps the lab file's order on ties", () => {
    const todo: [MachineHandle, PatchArtifact[]][] = [
      [machine("a", ["web"]), patches(1)],
      [machine("b", ["dns"]), patches(1)],
      [machine("c", ["db"]), patches(3)],
      [machine("d", ["file"]), patches(1)],
    ];
    expect(heaviestFirst(todo).map(([m]) => m.spec.name)).to.deep.equal(["c", "a", "b", "d"]);
  });

  it("clients come in a wave of their own after every other machine: every suite runs from them", () => {
    const todo: [MachineHandle, PatchArtifact[]][] = [
      [machine("client", ["client"]), patches(5)],
      [machine("web", ["web"]), patches(1)],
      [machine("dns", ["dns"]), patches(1)],
    ];
    expect(inWaves(heaviestFirst(todo)).map((w) => w.map(([m]) => m.spec.name))).to.deep.equal([["web", "dns"], ["client"]]);
    expect(inWaves([todo[1]!]).length, "no empty wave").to.equal(1);
  });
});
