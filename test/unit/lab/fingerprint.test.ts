import { expect } from "chai";
import { diffFingerprints, parseFingerprint } from "../../../harness/lab/fingerprint.ts";

const SEP = "--patchlab-fingerprint--";
const H = (c: string) => c.repeat(64);

function output(opts: { packages?: string; files?: string; sockets?: string } = {}): string {
  return [
    opts.packages ?? "nginx\t1.22.1-9\tii \nlibfoo\t2.0\trc ",
    SEP,
    opts.files ?? `${H("a")}  /etc/nginx/nginx.conf\n${H("b")}  /etc/hosts\n${H("c")}  /etc/resolv.conf`,
    SEP,
    opts.sockets ?? "tcp 00000000:0050\ntcp 0B00007F:8A3F\nudp 00000000:0035\nudp 0B00007F:D2C1",
  ].join("\n");
}

describe("fingerprint", () => {
  it("records installed packages, and removed-but-configured ones with their status", () => {
    const fp = parseFingerprint(output());
    expect(fp.packages).to.deep.equal({ nginx: "1.22.1-9", libfoo: "2.0 (rc)" });
  });

  it("ignores files the engine manages (hosts, resolv.conf)", () => {
    expect(Object.keys(parseFingerprint(output()).files)).to.deep.equal(["/etc/nginx/nginx.conf"]);
  });

  it("ignores Docker's embedded DNS sockets on 127.0.0.11, which change with every container", () => {
    expect(parseFingerprint(output()).listening).to.deep.equal(["tcp/80", "udp/53"]);
  });

  it("equal states diff equal", () => {
    expect(diffFingerprints(parseFingerprint(output()), parseFingerprint(output()))).to.deep.equal({ equal: true, differences: [] });
  });

  it("names every difference: package version, file content, added file, socket", () => {
    const a = parseFingerprint(output());
    const b = parseFingerprint(
      output({
        packages: "nginx\t1.22.1-9+deb12u1\tii ",
        files: `${H("d")}  /etc/nginx/nginx.conf\n${H("e")}  /etc/new.conf`,
        sockets: "udp 00000000:0035",
      }),
    );
    const d = diffFingerprints(a, b);
    expect(d.equal).to.equal(false);
    expect(d.differences).to.deep.equal([
      "file /etc/new.conf: added",
      "file /etc/nginx/nginx.conf: changed",
      "package libfoo: removed",
      "package nginx: 1.22.1-9 -> 1.22.1-9+deb12u1",
      "socket tcp/80: no longer listening",
    ]);
  });
});
