// The dns role as the lab's resolvers see it: every query is sent from the client straight to
// the target's address, without recursion, as a resolver asks an authoritative server.
// Expected answers come from the lab file (SuiteContext.machines), not from the server.
// Titles carry no machine names, so a check lines up across phases and runs.
import { expect } from "chai";
import { randomBytes } from "node:crypto";
import { check, smoke } from "../support/check.ts";
import { suiteContext, targetWithRole } from "../support/context.ts";
import { describeAnswer, dig, type DnsAnswer } from "../support/dns.ts";

/** "172.30.77.14" -> "14.77.30.172.in-addr.arpa" */
const reverseName = (ip: string) => `${ip.split(".").reverse().join(".")}.in-addr.arpa`;
const dot = (name: string) => (name.endsWith(".") ? name : `${name}.`);

describe("dns role", function () {
  this.timeout(60_000);
  let server = "";
  let zone = "";
  let where = "";

  before(function () {
    const t = targetWithRole("dns");
    server = t.ip;
    zone = suiteContext().lab.domain;
    where = `${t.fqdn} (${t.ip})`;
  });

  const machines = () => Object.entries(suiteContext().machines).sort(([a], [b]) => (a < b ? -1 : 1));
  const nameServers = () => machines().filter(([, m]) => m.roles.includes("dns")).map(([, m]) => dot(m.fqdn)).sort();
  const servedOk = (a: DnsAnswer, what: string) => {
    expect(a.status, `${where} did not answer ${what} (${describeAnswer(a)}): the zone is not being served`).to.not.equal("NO ANSWER");
    expect(a.status, `${where} answered ${what} with ${a.status} (${describeAnswer(a)})${a.status === "SERVFAIL" ? ": the zone failed to load" : ""}`).to.equal("NOERROR");
  };

  smoke("dns serves the lab zone's SOA with authority", async function () {
    const [soa] = await dig(server, [{ name: zone, type: "SOA" }]);
    servedOk(soa!, `the SOA of ${zone}`);
    expect(soa!.flags, `${where}: the SOA of ${zone} came without the AA flag (${describeAnswer(soa!)}): the server is not authoritative for the zone`).to.include("aa");
    const rec = soa!.answer.find((r) => r.type === "SOA");
    expect(rec, `${where}: no SOA record for ${zone} (${describeAnswer(soa!)})`).to.not.equal(undefined);
    const mname = rec!.data.split(" ")[0]!;
    expect(nameServers(), `${where}: the SOA of ${zone} names ${mname} as primary, not one of the lab's dns machines`).to.include(mname);
  });

  check("dns lists the lab's dns machines as the zone's name servers (NS)", async function () {
    const [ns] = await dig(server, [{ name: zone, type: "NS" }]);
    servedOk(ns!, `the NS records of ${zone}`);
    const got = ns!.answer.filter((r) => r.type === "NS").map((r) => r.data).sort();
    expect(got, `${where}: NS records of ${zone}`).to.deep.equal(nameServers());
  });

  check("dns resolves every lab machine's name to its address (A)", async function () {
    const list = machines();
    const answers = await dig(server, list.map(([, m]) => ({ name: m.fqdn, type: "A" })));
    const wrong = list.flatMap(([, m], i) => {
      const a = answers[i]!;
      const ips = a.answer.filter((r) => r.type === "A").map((r) => r.data);
      return a.status === "NOERROR" && ips.length === 1 && ips[0] === m.ip ? [] : [`${m.fqdn} should be ${m.ip}: ${describeAnswer(a)}`];
    });
    expect(wrong, `${where}: ${wrong.length} of ${list.length} machine names resolve wrongly: ${wrong.join("; ")}`).to.deep.equal([]);
  });

  check("dns resolves every lab machine's address back to its name (PTR)", async function () {
    const list = machines();
    const answers = await dig(server, list.map(([, m]) => ({ name: reverseName(m.ip), type: "PTR" })));
    const wrong = list.flatMap(([, m], i) => {
      const a = answers[i]!;
      const names = a.answer.filter((r) => r.type === "PTR").map((r) => r.data);
      return a.status === "NOERROR" && names.length === 1 && names[0] === dot(m.fqdn) ? [] : [`${m.ip} should be ${m.fqdn}: ${describeAnswer(a)}`];
    });
    expect(wrong, `${where}: ${wrong.length} of ${list.length} reverse lookups are wrong: ${wrong.join("; ")}`).to.deep.equal([]);
  });

  check("dns answers NXDOMAIN for a name that does not exist", async function () {
    // A fresh random name each time: nothing can have been created for it.
    const name = `patchlab-nx-${randomBytes(4).toString("hex")}.${zone}`;
    const [a] = await dig(server, [{ name, type: "A" }]);
    expect(a!.status, `${where}: ${describeAnswer(a!)}; an unknown name must give NXDOMAIN`).to.equal("NXDOMAIN");
    expect(a!.flags, `${where}: the NXDOMAIN for ${name} came without the AA flag (${describeAnswer(a!)})`).to.include("aa");
  });

  check("dns answers for the lab's names with the authoritative answer (AA) flag", async function () {
    const list = machines();
    const answers = await dig(server, [{ name: zone, type: "NS" }, ...list.map(([, m]) => ({ name: m.fqdn, type: "A" }))]);
    const notAuth = answers.filter((a) => !a.flags.includes("aa")).map(describeAnswer);
    expect(notAuth, `${where}: ${notAuth.length} of ${answers.length} answers lack the AA flag: ${notAuth.join("; ")}`).to.deep.equal([]);
  });
});
