import { execFileSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { expect } from "chai";
import { BASE_VOLATILE, diffStates, globToRegExp, knownHashes, parseState, renderDiff, stateScript, summarize, volatileFor } from "../../../harness/lab/state.ts";

const SEP = "--patchlab-state--";
const H = (c: string) => c.repeat(64);

function output(o: { packages?: string; passwd?: string; group?: string; meta?: string; hashes?: string; services?: string; socks?: string } = {}): string {
  return [
    o.packages ?? "nginx\t1.22.1-9\tii \nlibfoo:amd64\t2.0\trc \ngone\t\tun ",
    o.passwd ?? "root:x:0:0:root:/root:/bin/bash\nwww-data:x:33:33:www-data:/var/www:/usr/sbin/nologin",
    o.group ?? "root:x:0:\nadm:x:4:syslog",
    o.meta ??
      [
        "f\t644\troot:root\t120\t/etc/nginx/nginx.conf\t",
        "f\t644\troot:root\t10\t/etc/hosts\t",
        "f\t600\troot:root\t10\t/etc/shadow-\t",
        "d\t755\troot:root\t4096\t/etc/nginx\t",
        "l\t777\troot:root\t7\t/etc/alternatives/x\t/usr/bin/x",
        "f\t644\troot:root\t99\t/usr/lib/python3/dist-packages/__pycache__/a.pyc\t",
      ].join("\n"),
    o.hashes ?? `${H("a")}  /etc/nginx/nginx.conf\n${H("b")}  /etc/hosts`,
    o.services ?? "nginx running",
    o.socks ?? "tcp 00000000:0050\ntcp 0B00007F:8A3F\nudp 00000000:0035",
  ].join(`\n${SEP}\n`);
}

describe("machine state (richer fingerprint)", () => {
  it("reads packages (with arch and non-installed status), users, groups, services and sockets", () => {
    const s = parseState(output());
    expect(s.packages).to.deep.equal({ nginx: "1.22.1-9", "libfoo:amd64": "2.0 (rc)" });
    expect(s.users["www-data"]).to.equal("uid=33 gid=33 home=/var/www shell=/usr/sbin/nologin");
    expect(s.groups["adm"]).to.equal("gid=4 members=syslog");
    expect(s.services).to.deep.equal({ nginx: "running" });
    expect(s.listening).to.deep.equal(["tcp/80", "udp/53"]);
  });

  it("records each file's type, mode, owner, size and content hash; links by target", () => {
    const s = parseState(output());
    expect(s.files["/etc/nginx/nginx.conf"]).to.equal(`f 0644 root:root 120 sha256:${H("a")}`);
    expect(s.files["/etc/nginx"]).to.equal("d 0755 root:root");
    expect(s.files["/etc/alternatives/x"]).to.equal("l root:root -> /usr/bin/x");
    expect(s.bytes).to.equal(120);
  });

  it("leaves out volatile paths: engine files, useradd backups, caches", () => {
    const s = parseState(output());
    expect(Object.keys(s.files)).to.not.include.members(["/etc/hosts", "/etc/shadow-", "/usr/lib/python3/dist-packages/__pycache__/a.pyc"]);
  });

  it("globs: * stays in a segment, ** crosses them, a folder covers what is under it", () => {
    expect(globToRegExp("/etc/*-").test("/etc/passwd-")).to.equal(true);
    expect(globToRegExp("/etc/*-").test("/etc/x/passwd-")).to.equal(false);
    expect(globToRegExp("**/__pycache__").test("/usr/lib/a/__pycache__/b.pyc")).to.equal(true);
    expect(globToRegExp("/var/lib/ucf/*.[0-9]").test("/var/lib/ucf/hashfile.3")).to.equal(true);
    expect(globToRegExp("/var/lib/ucf/*.[0-9]").test("/var/lib/ucf/hashfile")).to.equal(false);
  });

  it("prunes whole volatile folders in find itself (fast), and filters globs afterwards", () => {
    const script = stateScript(["/etc", "/var/lib"], [...BASE_VOLATILE, "/var/lib/postgresql"]);
    expect(script).to.include("-path '/var/lib/postgresql'");
    expect(script).to.not.include("-path '/etc/*-'");
  });

  it("a machine's volatile paths add its roles' runtime data", () => {
    expect(volatileFor({ spec: { roles: ["db"] } } as never)).to.include("/var/lib/postgresql");
    expect(volatileFor({ spec: { roles: ["web"] } } as never, ["/srv/cache"])).to.include.members(["/var/lib/nginx", "/srv/cache"]);
  });

  it("equal states diff equal", () => {
    const d = diffStates(parseState(output()), parseState(output()));
    expect(d).to.deep.equal({ equal: true, changes: [], bytesDelta: 0 });
    expect(renderDiff(d, { before: "a", after: "b" })).to.equal("--- a\n+++ b\n(no difference)\n");
  });

  it("a residue diff reads like a unified diff: a hunk per section, - before, + after", () => {
    const before = parseState(output());
    const after = parseState(
      output({
        packages: "nginx\t1.22.1-9+deb12u1\tii \nlibfoo:amd64\t2.0\trc ",
        passwd: "root:x:0:0:root:/root:/bin/bash\nwww-data:x:33:33:www-data:/var/www:/usr/sbin/nologin\nacme:x:999:999::/opt/acme:/usr/sbin/nologin",
        meta: "f\t644\troot:root\t130\t/etc/nginx/nginx.conf\t\nf\t600\troot:root\t5\t/etc/acme.conf\t\nd\t755\troot:root\t4096\t/etc/nginx\t\nl\t777\troot:root\t7\t/etc/alternatives/x\t/usr/bin/x",
        hashes: `${H("c")}  /etc/nginx/nginx.conf\n${H("d")}  /etc/acme.conf`,
        services: "nginx stopped",
        socks: "udp 00000000:0035",
      }),
    );
    const d = diffStates(before, after);
    expect(d.equal).to.equal(false);
    expect(d.bytesDelta).to.equal(15);
    const text = renderDiff(d, { before: "before install", after: "after uninstall" });
    expect(text).to.equal(
      [
        "--- before install",
        "+++ after uninstall",
        "@@ packages @@",
        "-nginx  1.22.1-9",
        "+nginx  1.22.1-9+deb12u1",
        "@@ users @@",
        "+acme  uid=999 gid=999 home=/opt/acme shell=/usr/sbin/nologin",
        "@@ services @@",
        "-nginx  running",
        "+nginx  stopped",
        "@@ files @@",
        `+/etc/acme.conf  f 0600 root:root 5 sha256:${H("d")}`,
        `-/etc/nginx/nginx.conf  f 0644 root:root 120 sha256:${H("a")}`,
        `+/etc/nginx/nginx.conf  f 0644 root:root 130 sha256:${H("c")}`,
        "@@ listening @@",
        "-tcp/80  listening",
        "",
      ].join("\n"),
    );
    expect(summarize(d, 3)).to.equal("package nginx: 1.22.1-9 -> 1.22.1-9+deb12u1; user acme: added; service nginx: running -> stopped; ... and 3 more");
  });

  it("a mode or owner change alone is a difference", () => {
    const a = parseState(output());
    const b = parseState(output({ meta: "f\t600\troot:root\t120\t/etc/nginx/nginx.conf\t" , hashes: `${H("a")}  /etc/nginx/nginx.conf` }));
    expect(diffStates(a, b).changes.find((c) => c.key === "/etc/nginx/nginx.conf")).to.deep.include({ before: `f 0644 root:root 120 sha256:${H("a")}`, after: `f 0600 root:root 120 sha256:${H("a")}` });
  });
});

describe("machine state: incremental hashing within one boot", () => {
  const out = (boot: string, lines: string[], hashes: string) =>
    ["nginx\t1.0\tii ", "root:x:0:0:root:/root:/bin/sh", "root:x:0:", boot, lines.join("\n"), hashes, "nginx running", ""].join(`\n${SEP}\n`);

  it("records the boot token and each hashed file's inode:ctime stamp", () => {
    const s = parseState(out("4711", ["f\t644\troot:root\t5\t/etc/a\t\t12:1700000000.5", "d\t755\troot:root\t4096\t/etc\t\t2:1700000000.1"], `${H("a")}  /etc/a`));
    expect(s.boot).to.equal("4711");
    expect(s.stamps).to.deep.equal({ "/etc/a": "12:1700000000.5" });
  });

  it("hands the next state of the same boot what it may reuse: stamp, size, path, hash", () => {
    const s = parseState(out("4711", ["f\t644\troot:root\t5\t/etc/a\t\t12:1700000000.5", "f\t600\troot:root\t7\t/etc/b\t\t13:1700000001.0"], `${H("a")}  /etc/a\n${H("b")}  /etc/b`));
    expect(knownHashes(s)).to.equal(`4711\n12:1700000000.5\t5\t/etc/a\t${H("a")}\n13:1700000001.0\t7\t/etc/b\t${H("b")}\n`);
    // Nothing to reuse without an earlier state of a known boot.
    expect(knownHashes(undefined)).to.equal("\n");
    expect(knownHashes(parseState(output()))).to.equal("\n");
  });

  it("the script reads every file only when the boot differs, and otherwise only files whose stamp or size changed", () => {
    const script = stateScript(["/etc"], []);
    expect(script).to.include('if [ "$kb" = "$B" ]; then cat > "$K"; else cat > /dev/null; fi');
    expect(script).to.include('k[$5] == $7 "\\t" $4');
  });
});

describe("machine state: hashes carried across boots of one filesystem lineage (fsToken)", () => {
  // The real script in a real shell on a scratch folder: which hash it prints shows whether it read the file.
  const run = (root: string, stdin: string, token?: string) => parseState(execFileSync("sh", ["-c", stateScript([root], [], token)], { input: stdin, encoding: "utf8" }), []);
  const lie = (s: ReturnType<typeof parseState>, file: string) => knownHashes({ ...s, files: s.files }).replace(new RegExp(`(\\t${file.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&")}\\t)[0-9a-f]{64}`), `$1${"0".repeat(64)}`);

  it("with the same token an unchanged file's known hash is reused (not read again); another token or a changed file is read", () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "state-token-"));
    try {
      fs.writeFileSync(path.join(dir, "same"), "unchanged\n");
      fs.writeFileSync(path.join(dir, "edited"), "before\n");
      const first = run(dir, "\n", "lineage-a");
      expect(first.boot).to.equal("lineage-a");
      // Hand back known hashes in which `same` has a false hash: printing it proves the file was not read.
      const known = lie(first, path.join(dir, "same"));
      fs.writeFileSync(path.join(dir, "edited"), "after!\n"); // new ctime: must be read again
      const again = run(dir, known, "lineage-a");
      expect(again.files[path.join(dir, "same")]).to.include("0".repeat(64));
      expect(again.files[path.join(dir, "edited")]).to.not.equal(first.files[path.join(dir, "edited")]);
      // Another lineage (or no token: PID 1's start time) knows nothing: every file is read.
      const other = run(dir, known, "lineage-b");
      expect(other.files[path.join(dir, "same")]).to.equal(first.files[path.join(dir, "same")]);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
