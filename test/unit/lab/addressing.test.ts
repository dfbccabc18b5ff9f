import { expect } from "chai";
import { assignAddresses, gatewayFor } from "../../../harness/lab/addressing.ts";
import type { Lab } from "../../../harness/config/schemas.ts";

const machine = (name: string, ip?: string) => ({
  name, image: "web", roles: ["web" as const], applications: [], suites: [], owner: { name: "t", contact: "t@x.example" }, site: "s", criticality: "low" as const, ...(ip ? { ip } : {}),
});

describe("lab addressing", () => {
  it("keeps fixed addresses and assigns the rest from .10 in file order, skipping taken ones", () => {
    const lab: Lab = { name: "t", domain: "t.test", network: { subnet: "10.99.0.0/24" }, machines: [machine("a"), machine("b", "10.99.0.11"), machine("c")] };
    expect([...assignAddresses(lab)]).to.deep.equal([["a", "10.99.0.10"], ["b", "10.99.0.11"], ["c", "10.99.0.12"]]);
  });

  it("gives the same addresses every time (a restored machine keeps its IP)", () => {
    const lab: Lab = { name: "t", domain: "t.test", network: { subnet: "172.30.77.0/24" }, machines: [machine("x"), machine("y")] };
    expect([...assignAddresses(lab)]).to.deep.equal([...assignAddresses(lab)]);
  });

  it("puts the gateway at the subnet's first host address", () => {
    expect(gatewayFor("172.30.77.0/24")).to.equal("172.30.77.1");
  });
});
