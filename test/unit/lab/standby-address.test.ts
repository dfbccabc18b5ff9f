// Where a machine's warm standby waits (docker-standby.ts): a spare address that no machine of
// the lab has or may get, different for every machine, and none when the subnet is full.
import { expect } from "chai";
import type { Lab } from "../../../harness/config/schemas.ts";
import { assignAddresses } from "../../../harness/lab/addressing.ts";
import { standbyAddress } from "../../../harness/lab/drivers/docker-standby.ts";

const machine = (name: string, ip?: string) => ({
  name, image: "web", roles: ["web" as const], applications: [], suites: [], owner: { name: "t", contact: "t@x.example" }, site: "s", criticality: "low" as const, ...(ip ? { ip } : {}),
});

describe("warm standby addresses", () => {
  it("count down from the top of the subnet, one per machine, skipping machines' fixed addresses", () => {
    const lab: Lab = { name: "t", domain: "t.test", network: { subnet: "10.99.0.0/24" }, machines: [machine("a"), machine("b", "10.99.0.254"), machine("c")] };
    expect(lab.machines.map((m) => standbyAddress(lab, m.name))).to.deep.equal(["10.99.0.253", "10.99.0.252", "10.99.0.251"]);
  });

  it("never collide with a machine's address, the gateway or each other, even in a small subnet", () => {
    const lab: Lab = { name: "t", domain: "t.test", network: { subnet: "10.99.0.0/27" }, machines: Array.from({ length: 10 }, (_, i) => machine(`m${i}`)) };
    const machines = new Set(assignAddresses(lab).values());
    const standbys = lab.machines.map((m) => standbyAddress(lab, m.name));
    expect(standbys.every((ip) => ip !== undefined && !machines.has(ip) && ip !== "10.99.0.1" && ip !== "10.99.0.31")).to.equal(true);
    expect(new Set(standbys).size).to.equal(10);
  });

  it("are none when the subnet has no spare address (the plain restore is used)", () => {
    const lab: Lab = { name: "t", domain: "t.test", network: { subnet: "10.99.0.0/28" }, machines: Array.from({ length: 4 }, (_, i) => machine(`m${i}`)) };
    // /28: .2-.14 usable, machines at .10-.13; spares .14, .9, .8, .7 ... enough for four.
    expect(lab.machines.map((m) => standbyAddress(lab, m.name))).to.deep.equal(["10.99.0.14", "10.99.0.9", "10.99.0.8", "10.99.0.7"]);
    const full: Lab = { ...lab, network: { subnet: "10.99.0.0/29" }, machines: [machine("x", "10.99.0.2"), machine("y", "10.99.0.3"), machine("z", "10.99.0.4"), machine("w", "10.99.0.5"), machine("v", "10.99.0.6")] };
    expect(standbyAddress(full, "x")).to.equal(undefined);
  });
});
