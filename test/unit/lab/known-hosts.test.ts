// known_hosts as OpenSSH writes it: plain, [host]:port, hashed, patterns, @revoked; trust on
// first use records only hosts it has never seen.
import { createHmac, randomBytes } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { expect } from "chai";
import { fingerprintOf, hostMatches, keyTypeOf, parseKnownHosts, preferredHostKeyAlgorithms, verifyHostKey } from "../../../harness/lab/transports/known-hosts.ts";

/** An SSH wire-format key blob of a type (content arbitrary). */
const blob = (type: string, body: string) => {
  const t = Buffer.from(type);
  const len = Buffer.alloc(4);
  len.writeUInt32BE(t.length);
  return Buffer.concat([len, t, Buffer.from(body)]);
};
const hashed = (name: string) => {
  const salt = randomBytes(20);
  return `|1|${salt.toString("base64")}|${createHmac("sha1", salt).update(name).digest("base64")}`;
};

describe("known_hosts", () => {
  const k1 = blob("ssh-ed25519", "key-one");
  const k2 = blob("ssh-ed25519", "key-two");
  let dir: string;
  let file: string;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "patchlab-kh-"));
    file = path.join(dir, "known_hosts");
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it("matches plain names, [host]:port, hashed entries, patterns and negations", () => {
    expect(hostMatches("web.lab,10.0.0.5", "10.0.0.5", 22)).to.equal(true);
    expect(hostMatches("10.0.0.5", "10.0.0.5", 2222)).to.equal(false); // another port is another host
    expect(hostMatches("[10.0.0.5]:2222", "10.0.0.5", 2222)).to.equal(true);
    expect(hostMatches(hashed("[127.0.0.1]:2200"), "127.0.0.1", 2200)).to.equal(true);
    expect(hostMatches(hashed("127.0.0.1"), "127.0.0.2", 22)).to.equal(false);
    expect(hostMatches("*.lab.test,!db.lab.test", "web.lab.test", 22)).to.equal(true);
    expect(hostMatches("*.lab.test,!db.lab.test", "db.lab.test", 22)).to.equal(false);
    expect(hostMatches("web?.lab", "web1.lab", 22)).to.equal(true);
  });

  it("parses markers and comments, reads key types and fingerprints as OpenSSH shows them", () => {
    const entries = parseKnownHosts(`# comment\n\n@revoked h ssh-ed25519 AAAA\nh ssh-rsa BBBB comment here\n@cert-authority *.x ssh-ed25519 CCCC\n`);
    expect(entries.map((e) => [e.marker ?? "-", e.hosts, e.keyType, e.key, e.line])).to.deep.equal([
      ["@revoked", "h", "ssh-ed25519", "AAAA", 3],
      ["-", "h", "ssh-rsa", "BBBB", 4],
      ["@cert-authority", "*.x", "ssh-ed25519", "CCCC", 5],
    ]);
    expect(keyTypeOf(k1)).to.equal("ssh-ed25519");
    expect(fingerprintOf(k1)).to.match(/^SHA256:[A-Za-z0-9+/]{43}$/);
    expect(preferredHostKeyAlgorithms(entries.filter((e) => !e.marker))).to.deep.equal(["rsa-sha2-512", "rsa-sha2-256", "ssh-rsa"]);
  });

  it("accepts the recorded key, refuses a different one, and never records over it", () => {
    fs.writeFileSync(file, `[127.0.0.1]:2200 ssh-ed25519 ${k1.toString("base64")}\n`);
    expect(verifyHostKey({ file, host: "127.0.0.1", port: 2200, trustOnFirstUse: false }, k1)).to.deep.equal({ ok: true, recorded: false });
    const v = verifyHostKey({ file, host: "127.0.0.1", port: 2200, trustOnFirstUse: true }, k2);
    expect(v.ok).to.equal(false);
    if (!v.ok) {
      expect(v.reason).to.equal("mismatch");
      expect(v.message).to.contain(fingerprintOf(k2)).and.contain("line 1");
      expect(v.remedy).to.contain("ssh-keygen -R '[127.0.0.1]:2200'");
    }
    expect(fs.readFileSync(file, "utf8").split("\n").filter(Boolean)).to.have.length(1);
  });

  it("trusts an unknown host on first use only when told to, recording it in OpenSSH's format", () => {
    const strict = verifyHostKey({ file, host: "10.1.2.3", port: 22, trustOnFirstUse: false }, k1);
    expect(strict).to.deep.include({ ok: false, reason: "unknown" });
    expect(fs.existsSync(file)).to.equal(false);
    expect(verifyHostKey({ file, host: "10.1.2.3", port: 22, trustOnFirstUse: true }, k1)).to.deep.equal({ ok: true, recorded: true });
    expect(fs.readFileSync(file, "utf8")).to.equal(`10.1.2.3 ssh-ed25519 ${k1.toString("base64")}\n`);
    expect(fs.statSync(file).mode & 0o777).to.equal(0o600);
    expect(verifyHostKey({ file, host: "10.1.2.3", port: 22, trustOnFirstUse: false }, k1).ok).to.equal(true);
  });

  it("refuses a revoked key even when it is also listed as trusted", () => {
    fs.writeFileSync(file, `h ssh-ed25519 ${k1.toString("base64")}\n@revoked h ssh-ed25519 ${k1.toString("base64")}\n`);
    expect(verifyHostKey({ file, host: "h", port: 22, trustOnFirstUse: true }, k1)).to.deep.include({ ok: false, reason: "revoked" });
  });
});
