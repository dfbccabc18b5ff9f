// The dns role's zone is generated from the lab's machines: an A record per machine, SOA/NS
// naming the dns machine, www pointing at the web machine, and a serial that only moves when
// the content does (so provisioning twice writes identical files).
import { expect } from "chai";
import { labZone } from "./dns.ts";
import { fakeLab } from "./testing.ts";

const reference = () =>
  fakeLab([
    { name: "web", roles: ["web"], ip: "172.30.99.10" },
    { name: "dns", roles: ["dns"], ip: "172.30.99.11" },
    { name: "db", roles: ["db"], ip: "172.30.99.12" },
    { name: "client", roles: ["client"], ip: "172.30.99.15" },
  ]);

describe("roles: dns zone from the lab's machines", () => {
  it("has an A record per machine, NS and SOA on the dns machine, and www -> web", () => {
    const { handles } = reference();
    const z = labZone("lab.test", handles);
    expect(z.zone).to.match(/^web\tIN\tA\t172\.30\.99\.10$/m);
    expect(z.zone).to.match(/^dns\tIN\tA\t172\.30\.99\.11$/m);
    expect(z.zone).to.match(/^db\tIN\tA\t172\.30\.99\.12$/m);
    expect(z.zone).to.match(/^client\tIN\tA\t172\.30\.99\.15$/m);
    expect(z.zone).to.match(/^@\tIN\tNS\tdns\.lab\.test\.$/m);
    expect(z.zone).to.match(/^@\tIN\tSOA\tdns\.lab\.test\. hostmaster\.lab\.test\. \( \d+ /m);
    expect(z.zone).to.match(/^www\tIN\tCNAME\tweb\.lab\.test\.$/m);
    expect(z.zoneFile).to.equal("/etc/bind/db.lab.test");
    expect(z.namedConfLocal).to.contain('zone "lab.test"').and.contain('file "/etc/bind/db.lab.test"');
  });

  it("is byte-identical for the same machines in any order", () => {
    const { handles } = reference();
    expect(labZone("lab.test", [...handles].reverse())).to.deep.equal(labZone("lab.test", handles));
  });

  it("changes its serial when a machine's address changes", () => {
    const a = reference().handles;
    const b = reference().handles;
    b[2]!.ip = "172.30.99.99";
    expect(labZone("lab.test", a).serial).to.not.equal(labZone("lab.test", b).serial);
    expect(labZone("lab.test", a).serial).to.be.within(1, 2 ** 31 - 1);
  });

  it("has no www record without a web machine", () => {
    const { handles } = fakeLab([{ name: "ns1", roles: ["dns"], ip: "10.0.0.2" }], "corp.example");
    const z = labZone("corp.example", handles);
    expect(z.zone).to.not.match(/^www/m);
    expect(z.zone).to.match(/^@\tIN\tNS\tns1\.corp\.example\.$/m);
  });
});

describe("roles: dns reverse zones from the lab's machines", () => {
  it("has a PTR per machine in the /24's in-addr.arpa zone, declared in named.conf.local", () => {
    const { handles } = reference();
    const z = labZone("lab.test", handles);
    expect(z.reverse.map((r) => r.name)).to.deep.equal(["99.30.172.in-addr.arpa"]);
    const r = z.reverse[0]!;
    expect(r.file).to.equal("/etc/bind/db.99.30.172.in-addr.arpa");
    expect(r.zone).to.match(/^\$ORIGIN 99\.30\.172\.in-addr\.arpa\.$/m);
    expect(r.zone).to.match(/^@\tIN\tSOA\tdns\.lab\.test\. hostmaster\.lab\.test\. \( \d+ /m);
    expect(r.zone).to.match(/^@\tIN\tNS\tdns\.lab\.test\.$/m);
    expect(r.zone).to.match(/^10\tIN\tPTR\tweb\.lab\.test\.$/m);
    expect(r.zone).to.match(/^15\tIN\tPTR\tclient\.lab\.test\.$/m);
    expect(z.namedConfLocal).to.contain('zone "99.30.172.in-addr.arpa"').and.contain('file "/etc/bind/db.99.30.172.in-addr.arpa"');
  });

  it("splits machines across /24s into one reverse zone each", () => {
    const { handles } = fakeLab([
      { name: "dns", roles: ["dns"], ip: "10.1.2.3" },
      { name: "far", roles: ["web"], ip: "10.1.3.4" },
    ]);
    expect(labZone("lab.test", handles).reverse.map((r) => r.name)).to.deep.equal(["2.1.10.in-addr.arpa", "3.1.10.in-addr.arpa"]);
  });
});
