// LabDrivers: one LabDriver over a lab whose machines use different drivers. Each machine's
// calls reach its own driver; lab-wide calls ask every driver for its own machines only, in
// lab-file order; containers come up first, and every driver provisions with the whole lab.
import { expect } from "chai";
import type { Lab, Machine, MachineDriver } from "../../../harness/config/schemas.ts";
import { driverOf } from "../../../harness/config/schemas.ts";
import { LabDrivers } from "../../../harness/lab/drivers/lab-driver.ts";
import type { Drivers } from "../../../harness/lab/drivers/driver-for.ts";
import type { LabDriver, MachineHandle, SnapshotRef, UpOptions } from "../../../harness/lab/types.ts";

const lab = {
  name: "mixed",
  domain: "lab.test",
  network: { subnet: "172.30.99.0/24" },
  machines: [
    { name: "web", roles: ["web"], image: "web" },
    { name: "vm1", roles: ["web"], driver: "vm" },
    { name: "client", roles: ["client"], image: "client" },
    { name: "srv", roles: ["ssh"], driver: "ssh" },
  ],
} as unknown as Lab;

/** A driver that answers for every machine of the lab (as the real ones may) and records its calls. */
function fake(kind: MachineDriver, calls: string[]): LabDriver {
  const handle = (spec: Machine): MachineHandle => ({ spec, lab, container: `${kind}-${spec.name}`, ip: "10.0.0.1", fqdn: `${spec.name}.lab.test` }) as MachineHandle;
  return {
    handles: async (l) => l.machines.map(handle),
    up: async (l, o: UpOptions) => {
      calls.push(`${kind}.up(${(o.machines ?? []).map((m) => m.spec.name).join(",")})`);
      return l.machines.filter((m) => driverOf(m) === kind).map(handle);
    },
    status: async (l) => l.machines.map((m) => ({ machine: m.name, container: kind, roles: m.roles, state: "running" as const, health: [] })),
    connect: (m) => ({ machine: `${kind}:${m.spec.name}` }) as never,
    snapshot: async (m, label) => ({ lab: lab.name, machine: m.spec.name, label: `${kind}:${label}`, ref: kind, createdAt: kind === "docker" ? "2" : "1" }),
    restore: async (m) => void calls.push(`${kind}.restore(${m.spec.name})`),
    snapshots: async (l) => l.machines.map((m) => ({ lab: l.name, machine: m.name, label: kind, ref: kind, createdAt: kind })),
    deleteSnapshot: async (r: SnapshotRef) => void calls.push(`${kind}.delete(${r.machine})`),
    down: async () => void calls.push(`${kind}.down`),
  };
}

function drivers(calls: string[]): LabDrivers {
  const made = new Map<MachineDriver, LabDriver>();
  const get = (k: MachineDriver) => made.get(k) ?? made.set(k, fake(k, calls)).get(k)!;
  const registry = {
    get,
    driverFor: (m: Machine | MachineHandle) => get(driverOf("spec" in m ? m.spec : m)),
    driverOfSpec: (_l: Lab, m: Machine) => get(driverOf(m)),
    groupsOf: (l: Lab) => {
      const out = new Map<string, { key: string; driver: LabDriver; machines: Machine[] }>();
      for (const m of l.machines) {
        const key = driverOf(m) === "docker" ? "docker:default" : driverOf(m);
        const g = out.get(key) ?? { key, driver: get(driverOf(m)), machines: [] };
        g.machines.push(m);
        out.set(key, g);
      }
      return [...out.values()];
    },
    kindsOf: (l: Lab) => {
      const out = new Map<MachineDriver, Machine[]>();
      for (const m of l.machines) out.set(driverOf(m), [...(out.get(driverOf(m)) ?? []), m]);
      return out;
    },
  } as unknown as Drivers;
  return new LabDrivers({}, registry);
}

describe("LabDrivers: a lab of containers, VMs and servers behind one driver", () => {
  it("each machine's handle, connection, snapshot and restore come from its own driver", async () => {
    const calls: string[] = [];
    const d = drivers(calls);
    const hs = await d.handles(lab);
    expect(hs.map((h) => [h.spec.name, h.container])).to.deep.equal([["web", "docker-web"], ["vm1", "vm-vm1"], ["client", "docker-client"], ["srv", "ssh-srv"]]);
    expect((d.connect(hs[1]!) as unknown as { machine: string }).machine).to.equal("vm:vm1");
    expect((await d.snapshot(hs[3]!, "pre")).label).to.equal("ssh:pre");
    await d.restore(hs[1]!, { lab: "mixed", machine: "vm1", label: "x", ref: "r", createdAt: "" }, 0);
    expect(calls).to.deep.equal(["vm.restore(vm1)"]);
  });

  it("brings containers up first, every driver seeing the whole lab, and returns the machines in lab order", async () => {
    const calls: string[] = [];
    const up = await drivers(calls).up(lab, { runId: "r", deadline: 0 });
    expect(calls).to.deep.equal(["docker.up(web,vm1,client,srv)", "vm.up(web,vm1,client,srv)", "ssh.up(web,vm1,client,srv)"]);
    expect(up.map((h) => h.container)).to.deep.equal(["docker-web", "vm-vm1", "docker-client", "ssh-srv"]);
  });

  it("status and snapshots list each machine once, from its own driver", async () => {
    const d = drivers([]);
    const st = await d.status(lab);
    expect(st.map((s) => [s.machine, s.container])).to.deep.equal([["web", "docker"], ["vm1", "vm"], ["client", "docker"], ["srv", "ssh"]]);
    const snaps = await d.snapshots(lab);
    expect(snaps.map((s) => `${s.machine}:${s.label}`).sort()).to.deep.equal(["client:docker", "srv:ssh", "vm1:vm", "web:docker"]);
  });

  it("deletes a snapshot through the driver of its machine, and takes the lab down in reverse order", async () => {
    const calls: string[] = [];
    const d = drivers(calls);
    await d.handles(lab);
    await d.deleteSnapshot({ lab: "mixed", machine: "srv", label: "x", ref: "r", createdAt: "" });
    await d.down(lab);
    expect(calls).to.deep.equal(["ssh.delete(srv)", "ssh.down", "vm.down", "docker.down"]);
  });
});
