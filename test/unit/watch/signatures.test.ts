// Log lines become signatures: what changes between occurrences is stripped, the message stays.
import { expect } from "chai";
import { countSignatures, signature } from "../../../harness/watch/signatures.ts";

describe("watch: log signatures", () => {
  it("strips timestamps, pids, addresses, ports, numbers, hex ids and uuids", () => {
    const a = signature('2024/05/01 12:00:01 [error] 31#31: *12 connect() failed (111: Connection refused) while connecting to upstream, client: 172.30.77.15, upstream: "http://127.0.0.1:9000/"');
    const b = signature('2025/11/30 23:59:59 [error] 4410#4410: *98123 connect() failed (111: Connection refused) while connecting to upstream, client: 10.1.2.3, upstream: "http://127.0.0.1:9001/"');
    expect(a).to.equal(b);
    expect(a).to.include("connect() failed");
    expect(a).to.not.match(/\d/);
    expect(signature("id 550e8400-e29b-41d4-a716-446655440000 at 0xdeadbeef container 3f2a9b8c1d0e")).to.equal("id <uuid> at <hex> container <hex>");
    expect(signature("[Wed Oct 11 14:32:52.123456 2023] [php:error] [pid 1234] x")).to.equal("[<time>] [php:error] [pid <n>] x");
    expect(signature("May  1 12:00:00 host sshd[99]: Failed password from fe80::1 port 22")).to.equal("<time> host sshd[<n>]: Failed password from <ip> port <n>");
  });

  it("keeps different messages apart", () => {
    expect(signature("ERROR: disk full")).to.not.equal(signature("ERROR: disk quota exceeded"));
  });

  it("counts lines per signature, keeps the error level apart and a few sample lines", () => {
    const lines = [
      "worker 1 ERROR: cannot reach 10.0.0.1:8125",
      "worker 2 ERROR: cannot reach 10.0.0.2:8125",
      "worker 3 ERROR: cannot reach 10.0.0.3:8125",
      "GET / 200",
      "",
      "noise to ignore 42",
    ];
    const c = countSignatures("container", lines, { errorPattern: /error/i, ignore: [/noise/], sampleLines: 2 });
    expect(c).to.have.length(2);
    const err = c.find((x) => x.error)!;
    expect(err).to.include({ count: 3, source: "container", signature: "worker <n> ERROR: cannot reach <ip>" });
    expect(err.samples).to.deep.equal(lines.slice(0, 2));
    expect(c.find((x) => !x.error)!.count).to.equal(1);
  });
});
