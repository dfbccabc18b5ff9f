// A tiny Debian archive made here: a throwaway signing key, real .debs built with dpkg-deb,
// Packages indexes and an InRelease clearsigned with that key, served on 127.0.0.1. Lets the
// feed code be tested end to end (and doctored) without the network.
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import fs from "node:fs";
import http from "node:http";
import os from "node:os";
import path from "node:path";
import zlib from "node:zlib";
import type { AddressInfo } from "node:net";

export interface FakePkg {
  name: string;
  version: string;
  source?: string;
  depends?: string;
  changelog?: string;
}

export interface FakeArchive {
  dir: string;
  url: string;
  keyring: string;
  /** Rewrite a served file (path relative to the archive root). */
  tamper(rel: string, edit: (b: Buffer) => Buffer): void;
  /** Re-sign a suite's Release after editing it (e.g. to expire it). */
  resign(suite: string, editRelease?: (text: string) => string): void;
  close(): Promise<void>;
}

const sha = (b: Buffer | string) => createHash("sha256").update(b).digest("hex");

export async function fakeArchive(suites: Record<string, FakePkg[]>): Promise<FakeArchive> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "patchlab-archive-"));
  const home = path.join(dir, ".gnupg");
  fs.mkdirSync(home, { mode: 0o700 });
  const gpg = (args: string[], input?: string) =>
    execFileSync("gpg", ["--homedir", home, "--batch", "--no-tty", "--pinentry-mode", "loopback", "--passphrase", "", ...args], { input, stdio: ["pipe", "pipe", "pipe"] });
  gpg(["--quick-generate-key", "patchlab test archive <archive@example.invalid>", "ed25519", "sign", "never"]);
  const keyring = path.join(dir, "archive-keyring.gpg");
  fs.writeFileSync(keyring, gpg(["--export"]));

  const releaseText = new Map<string, string>();
  const sign = (suite: string) => {
    const d = path.join(dir, "dists", suite);
    fs.writeFileSync(path.join(d, "Release"), releaseText.get(suite)!);
    fs.writeFileSync(path.join(d, "InRelease"), gpg(["--digest-algo", "SHA256", "--clearsign"], releaseText.get(suite)!));
  };
  for (const [suite, pkgs] of Object.entries(suites)) {
    const stanzas: string[] = [];
    for (const p of pkgs) {
      const tree = path.join(dir, "build", `${p.name}_${p.version}`);
      fs.mkdirSync(path.join(tree, "DEBIAN"), { recursive: true });
      fs.writeFileSync(path.join(tree, "DEBIAN", "control"), `Package: ${p.name}\nVersion: ${p.version}\nArchitecture: all\nMaintainer: t <t@example.org>\n${p.source ? `Source: ${p.source}\n` : ""}${p.depends ? `Depends: ${p.depends}\n` : ""}Description: test package\n`);
      const doc = path.join(tree, "usr/share/doc", p.name);
      fs.mkdirSync(doc, { recursive: true });
      if (p.changelog) fs.writeFileSync(path.join(doc, "changelog.Debian.gz"), zlib.gzipSync(p.changelog));
      const rel = `pool/main/${p.name[0]}/${p.name}/${p.name}_${p.version.replace(/^\d+:/, "")}_all.deb`;
      fs.mkdirSync(path.dirname(path.join(dir, rel)), { recursive: true });
      execFileSync("dpkg-deb", ["--root-owner-group", "-Zgzip", "--build", tree, path.join(dir, rel)], { stdio: "pipe" });
      const deb = fs.readFileSync(path.join(dir, rel));
      stanzas.push(`Package: ${p.name}\n${p.source ? `Source: ${p.source}\n` : ""}Version: ${p.version}\nArchitecture: all\n${p.depends ? `Depends: ${p.depends}\n` : ""}Filename: ${rel}\nSize: ${deb.length}\nSHA256: ${sha(deb)}\nDescription: test package\n`);
    }
    const packages = stanzas.join("\n");
    const bin = path.join(dir, "dists", suite, "main", "binary-amd64");
    fs.mkdirSync(bin, { recursive: true });
    fs.writeFileSync(path.join(bin, "Packages"), packages);
    const xz = execFileSync("xz", ["-c"], { input: packages });
    fs.writeFileSync(path.join(bin, "Packages.xz"), xz);
    const valid = new Date(Date.now() + 7 * 86400_000).toUTCString();
    releaseText.set(
      suite,
      `Origin: Test\nSuite: ${suite}\nCodename: ${suite}\nDate: ${new Date().toUTCString()}\nValid-Until: ${valid}\nArchitectures: amd64\nComponents: main\nSHA256:\n ${sha(packages)} ${Buffer.byteLength(packages)} main/binary-amd64/Packages\n ${sha(xz)} ${xz.length} main/binary-amd64/Packages.xz\n`,
    );
    sign(suite);
  }
  const server = http.createServer((req, res) => {
    const f = path.join(dir, decodeURIComponent((req.url ?? "/").split("?")[0]!));
    if (!f.startsWith(dir) || !fs.existsSync(f) || !fs.statSync(f).isFile()) {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200).end(fs.readFileSync(f));
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    dir,
    url,
    keyring,
    tamper: (rel, edit) => fs.writeFileSync(path.join(dir, rel), edit(fs.readFileSync(path.join(dir, rel)))),
    resign: (suite, edit) => {
      if (edit) releaseText.set(suite, edit(releaseText.get(suite)!));
      sign(suite);
    },
    close: async () => {
      await new Promise<void>((r) => server.close(() => r()));
      execFileSync("gpgconf", ["--homedir", home, "--kill", "gpg-agent"]);
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}
