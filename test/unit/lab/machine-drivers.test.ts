// A machine's `driver:` picks what runs it: docker when absent (every lab file written before
// drivers stays valid), vm or ssh with their own fields; mistakes are ConfigErrors naming the
// field and the choices; driverFor hands each machine to its driver.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { expect } from "chai";
import { loadLab } from "../../../harness/config/loader.ts";
import { driverOf, isDockerMachine } from "../../../harness/config/schemas.ts";
import { ConfigErrors } from "../../../harness/core/errors.ts";
import { Drivers } from "../../../harness/lab/drivers/driver-for.ts";
import { DockerDriver } from "../../../harness/lab/drivers/docker-driver.ts";
import { SshDriver } from "../../../harness/lab/drivers/ssh-driver.ts";
import { VmDriver } from "../../../harness/lab/drivers/vm/vm-driver.ts";

async function problems(yaml: string): Promise<{ field?: string; message: string; remedy: string }[]> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "patchlab-drivers-"));
  const file = path.join(dir, "lab.yaml");
  fs.writeFileSync(file, yaml);
  try {
    await loadLab(file);
    return [];
  } catch (e) {
    if (e instanceof ConfigErrors) return e.errors.map((x) => ({ field: x.field, message: x.message, remedy: x.remedy }));
    throw e;
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

const lab = (machine: string) => `name: t
domain: t.test
network: { subnet: 172.30.84.0/24 }
machines:
${machine}
  - name: client
    image: client
    roles: [client]
    owner: { name: T, contact: t@corp.example }
    site: lab
    criticality: low
`;
const common = "    roles: [web]\n    owner: { name: T, contact: t@corp.example }\n    site: lab\n    criticality: low";

describe("lab file: machine drivers", () => {
  it("every existing lab stays valid, its machines on docker", async () => {
    for (const f of ["lab-config/labs/reference.yaml", "test/fixtures/labs/mini.yaml"]) {
      const { lab } = await loadLab(f);
      for (const m of lab.machines) {
        expect(m.driver, `${f} ${m.name}`).to.equal(undefined);
        expect(driverOf(m)).to.equal("docker");
        expect(isDockerMachine(m)).to.equal(true);
      }
    }
  });

  it("reads vm and ssh machines with their defaults", async () => {
    const { lab } = await loadLab("test/fixtures/labs/vmssh-mixed.yaml");
    const byName = Object.fromEntries(lab.machines.map((m) => [m.name, m]));
    expect(byName.vmweb).to.deep.include({ driver: "vm", vm: { image: "web", memory: 512, cpus: 1 } });
    expect(byName.legacy!.driver).to.equal("ssh");
    const ssh = (byName.legacy as { ssh: Record<string, unknown> }).ssh;
    expect(ssh).to.deep.include({ host: "192.0.2.10", port: 22, user: "ops", trustOnFirstUse: false, knownHosts: "~/.ssh/known_hosts" });
    expect((ssh.hooks as { timeoutSeconds: number }).timeoutSeconds).to.equal(300);
    expect(lab.machines.map(driverOf)).to.deep.equal(["docker", "vm", "ssh", "docker"]);
  });

  it("an unknown driver names the choices, or the driver the other keys show was meant", async () => {
    const asDocker = await problems(lab(`  - name: web\n    driver: kvm\n    image: web\n${common}`));
    expect(asDocker.map((x) => [x.field, x.message.replace(/^.*lab\.yaml:\d+:\d+: /, ""), x.remedy])).to.deep.equal([
      ["machines[0].driver", 'machines[0].driver: unknown driver "kvm" (got "kvm")', "write `driver: docker`"],
    ]);
    const asVm = await problems(lab(`  - name: web\n    driver: qemu\n    vm: { image: web }\n${common}`));
    expect(asVm.map((x) => x.remedy)).to.deep.equal(["write `driver: vm`"]);
    const unclear = await problems(lab(`  - name: web\n    driver: kvm\n${common}`));
    expect(unclear.find((x) => x.field === "machines[0].driver")!.remedy).to.equal("use one of: docker, ssh, vm");
  });

  it("a vm machine takes its image under vm:, and names a misspelt field", async () => {
    const p = await problems(lab(`  - name: web\n    driver: vm\n    image: web\n    vm: { image: web, memroy: 1024 }\n${common}`));
    expect(p.map((x) => x.field).sort()).to.deep.equal(["machines[0].image", "machines[0].vm.memroy"]);
    expect(p.find((x) => x.field === "machines[0].image")!.message).to.match(/unknown key "image"/);
    expect(p.find((x) => x.field === "machines[0].vm.memroy")!.remedy).to.match(/did you mean `memory:`/);
  });

  it("an ssh machine needs a host, and hooks need both snapshot and restore", async () => {
    const p = await problems(lab(`  - name: web\n    driver: ssh\n    ssh: { port: 2222, hooks: { snapshot: [virsh, x] } }\n${common}`));
    expect(p.map((x) => x.message.replace(/^.*lab\.yaml:\d+:\d+: /, "")).sort()).to.deep.equal([
      'machines[0].ssh.hooks.restore: missing required key "restore"',
      'machines[0].ssh.host: missing required key "host"',
    ]);
  });

  it("driverFor hands each machine to one driver of its kind", async () => {
    const { lab } = await loadLab("test/fixtures/labs/vmssh-mixed.yaml");
    const drivers = new Drivers();
    const [web, vmweb, legacy, client] = lab.machines;
    expect(drivers.driverFor(web!)).to.be.instanceOf(DockerDriver);
    expect(drivers.driverFor(vmweb!)).to.be.instanceOf(VmDriver);
    expect(drivers.driverFor(legacy!)).to.be.instanceOf(SshDriver);
    expect(drivers.driverFor(client!)).to.equal(drivers.driverFor(web!)); // one instance per kind
    expect([...drivers.kindsOf(lab).entries()].map(([k, ms]) => [k, ms.map((m) => m.name)])).to.deep.equal([
      ["docker", ["web", "client"]],
      ["vm", ["vmweb"]],
      ["ssh", ["legacy"]],
    ]);
    const vmHandles = (drivers.get("vm") as VmDriver).handlesFor(lab);
    expect(vmHandles.map((h) => [h.spec.name, h.ip, h.container])).to.deep.equal([["vmweb", "127.30.84.11", "patchlab-vmssh-mixed-vmweb"]]);
    expect((await drivers.handles(lab)).map((h) => [h.spec.name, h.ip])).to.deep.equal([
      ["web", "172.30.84.10"],
      ["vmweb", "127.30.84.11"],
      ["legacy", "192.0.2.10"],
      ["client", "172.30.84.13"],
    ]);
    const sshHandles = (drivers.get("ssh") as SshDriver).handlesFor(lab);
    expect(sshHandles.map((h) => [h.spec.name, h.ip, h.container])).to.deep.equal([["legacy", "192.0.2.10", "ssh://ops@192.0.2.10:22"]]);
  });
});
