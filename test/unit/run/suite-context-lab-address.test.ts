// Suites run from the lab's client machine, so the addresses they get are the ones the client
// reaches: a VM's lab address, not the loopback address the harness reaches it at.
import { expect } from "chai";
import type { MachineHandle } from "../../../harness/lab/types.ts";
import { suiteContext } from "../../../harness/run/machine-pipeline.ts";

const lab = { name: "mixed", domain: "mixed.test", network: { subnet: "172.30.84.0/24" } };
const handle = (name: string, roles: string[], ip: string, labIp?: string) =>
  ({ spec: { name, roles }, lab, container: `patchlab-mixed-${name}`, ip, fqdn: `${name}.mixed.test`, ...(labIp ? { labIp } : {}) }) as unknown as MachineHandle;

describe("suite context addresses", () => {
  it("gives suites a VM's lab address and a container's own address", () => {
    const vm = handle("web", ["web"], "127.30.84.20", "172.30.84.20");
    const client = handle("client", ["client"], "172.30.84.5");
    const ctx = suiteContext({ all: [vm, client], machine: vm, runId: "r", caCertPath: "/ca.crt" }, "baseline", []);
    expect(ctx.target.ip).to.equal("172.30.84.20");
    expect(ctx.machines["web"]!.ip).to.equal("172.30.84.20");
    expect(ctx.machines["client"]!.ip).to.equal("172.30.84.5");
  });
});
