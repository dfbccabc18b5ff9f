// The log watcher: new error-level signatures and jumps in the rate of known ones are
// findings; what the baseline had at the same rate (lines the suites provoke) is not.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { expect } from "chai";
import { compareLogs, globMatch, logNote, parseChunks, readAppended, fileOffsets, type LogObservation } from "../../../harness/watch/logs.ts";
import { defaultWatchPolicy } from "../../../harness/watch/policy.ts";
import { countSignatures } from "../../../harness/watch/signatures.ts";
import { LocalConnection } from "./helpers.ts";

const policy = defaultWatchPolicy();
const re = new RegExp(policy.logs.errorPattern, "i");

function obs(lines: string[], durationMs = 10_000, source = "file:/var/log/app.log"): LogObservation {
  return { watcher: "logs", version: 1, machine: "web", durationMs, sources: [{ id: source, present: true, bytes: 1, truncated: false }], signatures: countSignatures(source, lines, { errorPattern: re }) };
}

const refused = (i: number) => `2024-05-01 12:00:0${i % 10} UTC [${100 + i}] labuser@inventory FATAL:  password authentication failed for user "labuser"`;

describe("watch: log comparison", () => {
  it("a new error-level signature is a finding with sample lines as evidence", () => {
    const base = obs([refused(1), "LOG: checkpoint starting"]);
    const phase = obs([refused(2), "LOG: checkpoint starting", "helper[77]: ERROR: cannot reach collector 127.0.0.1:8125", "helper[77]: ERROR: cannot reach collector 127.0.0.1:8125"]);
    const f = compareLogs(base, phase, policy);
    expect(f).to.have.length(1);
    expect(f[0]).to.include({ watcher: "logs", severity: "error", rejects: true });
    expect(f[0]!.title).to.equal("new error lines in file:/var/log/app.log: helper[<n>]: ERROR: cannot reach collector <ip>");
    expect(f[0]!.evidence[0]!.contentType).to.equal("text/plain");
    expect(f[0]!.evidence[0]!.body).to.include("helper[77]: ERROR: cannot reach collector 127.0.0.1:8125");
    expect(f[0]!.evidence[0]!.body).to.include("this phase: 2 line(s)");
  });

  it("lines the suites provoke in every phase (a refused login) are not findings", () => {
    const base = obs([1, 2, 3].map(refused));
    const phase = obs([4, 5, 6, 7].map(refused));
    expect(compareLogs(base, phase, policy)).to.deep.equal([]);
  });

  it("a known error signature whose rate jumped past factor and minimum is a finding", () => {
    const base = obs([1, 2].map(refused), 60_000); // 2/min
    const jumped = obs(Array.from({ length: 20 }, (_, i) => refused(i)), 60_000); // 20/min
    const f = compareLogs(base, jumped, policy);
    expect(f).to.have.length(1);
    expect(f[0]!.title).to.match(/^error rate jumped in file:\/var\/log\/app\.log: /);
    expect(f[0]!.message).to.match(/20\.0 lines\/min, baseline 2\.0\/min/);
    // x3 but only +4/min: under minExtraPerMinute (6) -> noise, not a finding
    expect(compareLogs(base, obs([1, 2, 3, 4, 5, 6].map(refused), 60_000), policy)).to.deep.equal([]);
  });

  it("rates are per minute: the same lines over a window twice as long are no jump", () => {
    const base = obs(Array.from({ length: 10 }, (_, i) => refused(i)), 10_000);
    const phase = obs(Array.from({ length: 20 }, (_, i) => refused(i)), 20_000);
    expect(compareLogs(base, phase, policy)).to.deep.equal([]);
  });

  it("non-error lines are never findings, and a policy can make a finding non-rejecting", () => {
    expect(compareLogs(obs([]), obs(["GET / 200", "reloading configuration"]), policy)).to.deep.equal([]);
    const lenient = defaultWatchPolicy();
    lenient.logs.newError = { minCount: 3, severity: "warning", rejects: false };
    expect(compareLogs(obs([]), obs(["ERROR x", "ERROR x"]), lenient)).to.deep.equal([]);
    const f = compareLogs(obs([]), obs(["ERROR x", "ERROR x", "ERROR x"]), lenient);
    expect(f[0]).to.include({ severity: "warning", rejects: false });
  });

  it("a log source the baseline had and the phase lacks is a non-rejecting warning", () => {
    const gone: LogObservation = { ...obs([]), sources: [{ id: "file:/var/log/app.log", present: false, bytes: 0, truncated: false }] };
    const f = compareLogs(obs(["x"]), gone, policy);
    expect(f.map((x) => [x.title, x.rejects])).to.deep.equal([["log source gone: file:/var/log/app.log", false]]);
    expect(logNote(gone)).to.include("absent: file:/var/log/app.log");
  });

  it("many new signatures are capped at ten findings plus one summary", () => {
    const f = compareLogs(obs([]), obs(Array.from({ length: 15 }, (_, i) => `ERROR kind-${"abcdefghijklmnop"[i]}`)), policy);
    expect(f).to.have.length(11);
    expect(f[10]!.title).to.equal("more new error signatures");
  });
});

describe("watch: reading role log files", () => {
  it("globMatch matches shell globs as role declarations use them", () => {
    expect(globMatch("/var/log/samba/log.*", "/var/log/samba/log.smbd")).to.equal(true);
    expect(globMatch("/var/log/samba/log.*", "/var/log/samba/sub/log.x")).to.equal(false);
    expect(globMatch("/var/log/postgresql/*.log", "/var/log/postgresql/postgresql-15-main.log")).to.equal(true);
  });

  it("parseChunks splits the marked output back into files", () => {
    const out = "\n@@patchlab-log 10 4 /a.log\nline1\nline2\n\n@@patchlab-log 3 0 /b.log\nx";
    expect(parseChunks(out)).to.deep.equal([
      { path: "/a.log", size: 10, from: 4, text: "line1\nline2\n" },
      { path: "/b.log", size: 3, from: 0, text: "x" },
    ]);
  });

  it("reads only what was appended since the offsets, a truncated file from its start, a new file whole (real sh)", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "patchlab-logs-"));
    const a = path.join(dir, "a.log");
    const b = path.join(dir, "b.log");
    fs.writeFileSync(a, "old line\n");
    fs.writeFileSync(b, "will be truncated, long old content\n");
    const conn = new LocalConnection();
    const decl = [{ path: `${dir}/*.log` }];
    const offsets = await fileOffsets(conn, decl);
    expect(offsets).to.deep.equal({ [a]: 9, [b]: 36 });
    fs.appendFileSync(a, "new line 1\nnew line 2\n");
    fs.writeFileSync(b, "short\n");
    fs.writeFileSync(path.join(dir, "c.log"), "brand new\n");
    const chunks = await readAppended(conn, decl, offsets, 1 << 20);
    const text = Object.fromEntries(chunks.map((c) => [path.basename(c.path), c.text]));
    expect(text).to.deep.equal({ "a.log": "new line 1\nnew line 2\n", "b.log": "short\n", "c.log": "brand new\n" });
    fs.rmSync(dir, { recursive: true });
  });

  it("refuses log paths that would inject shell", async () => {
    let err: Error | undefined;
    await fileOffsets(new LocalConnection(), [{ path: "/var/log/x; rm -rf /" }]).catch((e) => (err = e));
    expect(err?.message).to.match(/characters the log watcher does not accept/);
  });
});

describe("watch: journald", () => {
  it("reads the window's journal where the machine has journald, with the role's error level", async () => {
    const { observeLogs } = await import("../../../harness/watch/logs.ts");
    const { ctxFor, machine } = await import("./helpers.ts");
    const asked: string[] = [];
    const conn = new (class extends LocalConnection {
      override async exec(cmd: string | string[]) {
        const c = Array.isArray(cmd) ? cmd.join(" ") : cmd;
        asked.push(c);
        if (c.includes("/run/systemd/journal")) return { exitCode: 0, stdout: "", stderr: "", durationMs: 1 };
        if (c.startsWith("journalctl")) return { exitCode: 0, stdout: "2030-01-01T00:00:01+0000 web sshd[9]: error: maximum authentication attempts exceeded for root\n2030-01-01T00:00:02+0000 web CRON[10]: session opened\n", stderr: "", durationMs: 1 };
        return super.exec(cmd);
      }
    })();
    const o = await observeLogs(ctxFor(conn, { ms: 50, sampleMs: 50 }, machine(["client"])), policy);
    expect(o.sources.map((s) => s.id)).to.deep.equal(["journal"]);
    expect(o.signatures.map((s) => [s.signature, s.error])).to.deep.equal([
      ["<time> web sshd[<n>]: error: maximum authentication attempts exceeded for root", true],
      ["<time> web CRON[<n>]: session opened", false],
    ]);
    expect(asked.find((c) => c.startsWith("journalctl"))).to.match(/--since @\d+ --until @\d+/);
  });
});
