// Small pure helpers behind the remedies: typo distance and subnet arithmetic.
import { expect } from "chai";
import { autoAssignRoom, formatIpv4, parseIpv4, parseSubnet, prefixFor, reservedRole } from "../../../harness/config/ipv4.ts";
import { closest, editDistance } from "../../../harness/config/suggest.ts";
import { formatFieldPath } from "../../../harness/config/yaml-source.ts";

describe("config: helpers", () => {
  it("suggests the closest key within two edits, and nothing further away", () => {
    expect(editDistance("rolse", "roles")).to.equal(2);
    expect(closest("rolse", ["name", "image", "roles"])).to.equal("roles");
    expect(closest("Image", ["name", "image"])).to.equal("image");
    expect(closest("webserver", ["web", "dns"])).to.equal(undefined);
  });

  it("formats field paths dotted with indices", () => {
    expect(formatFieldPath(["machines", 2, "roles", 0])).to.equal("machines[2].roles[0]");
    expect(formatFieldPath([])).to.equal("");
  });

  it("parses subnets and knows the reserved addresses", () => {
    const s = parseSubnet("172.30.77.0/24")!;
    expect(formatIpv4(s.network)).to.equal("172.30.77.0");
    expect(s.hostBitsSet).to.equal(false);
    expect(parseSubnet("172.30.77.5/24")!.hostBitsSet).to.equal(true);
    expect(reservedRole(s, parseIpv4("172.30.77.1")!)).to.equal("gateway");
    expect(reservedRole(s, parseIpv4("172.30.77.255")!)).to.equal("broadcast");
    expect(reservedRole(s, parseIpv4("172.30.77.2")!)).to.equal(undefined);
    expect(parseIpv4("300.1.1.1")).to.equal(undefined);
    expect(parseSubnet("1.2.3.0/33")).to.equal(undefined);
  });

  it("counts room for assigned addresses from .10 up, minus fixed ones there", () => {
    const s = parseSubnet("10.0.0.0/28")!; // .10-.14 assignable
    expect(autoAssignRoom(s, [])).to.equal(5);
    expect(autoAssignRoom(s, [parseIpv4("10.0.0.11")!, parseIpv4("10.0.0.3")!])).to.equal(4);
    expect(autoAssignRoom(parseSubnet("10.0.0.0/29")!, [])).to.equal(0);
    expect(prefixFor(6)).to.equal(27);
    expect(prefixFor(5)).to.equal(28);
  });
});
