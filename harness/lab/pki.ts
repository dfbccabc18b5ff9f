// The lab's own certificate authority, made with the host's openssl. One CA per lab, created
// once under <stateDir>/pki/<lab>/ and reused; server certificates are issued from it with
// subjectAltNames, and cached by their name list so issuing the same names again returns the
// same certificate (provisioning stays idempotent).
import { createHash, randomBytes, X509Certificate } from "node:crypto";
import { spawnSync } from "node:child_process";
import fs from "node:fs/promises";
import { existsSync } from "node:fs";
import net from "node:net";
import path from "node:path";
import type { Lab } from "../config/schemas.ts";
import { ChildFailed, runChild } from "../core/child.ts";
import { LabError } from "../core/errors.ts";
import { envNameFor, timeoutMs } from "../core/timeouts.ts";
import type { LabPki } from "./roles/types.ts";

export const CA_DAYS = 3650;
export const SERVER_DAYS = 825;
/** An issued certificate closer than this to its end is issued anew. */
const RENEW_BEFORE_MS = 30 * 24 * 3600_000;

const DNS_NAME = /^(\*\.)?[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;

async function openssl(args: string[], cwd: string): Promise<void> {
  try {
    await runChild("openssl", args, {
      cwd,
      timeoutMs: timeoutMs("openssl"),
      what: `openssl ${args[0]}`,
      timeoutRemedy: `openssl should take well under a second: check the host's load and entropy (\`cat /proc/sys/kernel/random/entropy_avail\`); raise ${envNameFor("openssl")} on a very slow host`,
    });
  } catch (e) {
    if (!(e instanceof ChildFailed)) throw e;
    const out = (e.result.stdout + e.result.stderr).trim();
    throw new LabError(
      "harness",
      `openssl ${args[0]} failed (exit ${e.result.code}): ${out.split("\n").slice(-5).join(" | ")}`,
      "check the host's openssl (`openssl version`); delete the lab's pki directory to start over",
    );
  }
}

function requireOpenssl(): void {
  if (spawnSync("openssl", ["version"], { stdio: "ignore", timeout: 10_000 }).status !== 0) {
    throw new LabError("dependency-missing", "openssl is not installed on this host; the lab CA needs it", "run `npx patchlab doctor --fix` (or `apt-get install openssl`)");
  }
}

/** subjectAltName value for these names: IPv4/IPv6 literals become IP entries, the rest DNS. */
export function subjectAltName(names: string[]): string {
  return names.map((n) => (net.isIP(n) ? `IP:${n}` : `DNS:${n}`)).join(", ");
}

export function validateNames(names: string[]): void {
  if (names.length === 0) throw new LabError("harness", "a certificate needs at least one name", "pass the machine's DNS names");
  for (const n of names) {
    if (!net.isIP(n) && !DNS_NAME.test(n)) {
      throw new LabError("harness", `"${n}" is neither a DNS name nor an IP address`, "pass DNS names such as web.lab.test, or IP addresses");
    }
  }
}

const CA_CONFIG = (cn: string) => `[req]
distinguished_name = dn
prompt = no
x509_extensions = v3_ca
[dn]
O = patchlab
CN = ${cn}
[v3_ca]
basicConstraints = critical, CA:TRUE, pathlen:0
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
`;

const SERVER_EXT = (names: string[]) => `[v3_srv]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = ${subjectAltName(names)}
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid, issuer
`;

const KEY_ARGS = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];

/** Writes files into a fresh sibling directory, then renames it into place; loses gracefully to a concurrent writer. */
async function createAtomically(dir: string, make: (tmp: string) => Promise<void>): Promise<void> {
  if (existsSync(dir)) return;
  await fs.mkdir(path.dirname(dir), { recursive: true });
  const tmp = `${dir}.tmp-${process.pid}-${randomBytes(4).toString("hex")}`;
  await fs.mkdir(tmp, { recursive: true, mode: 0o700 });
  try {
    await make(tmp);
    try {
      await fs.rename(tmp, dir);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code !== "ENOTEMPTY" && code !== "EEXIST") throw e;
      // Another process made it first: theirs is as good as ours.
    }
  } finally {
    await fs.rm(tmp, { recursive: true, force: true });
  }
}

export async function labPki(stateDir: string, lab: Lab): Promise<LabPki> {
  const dir = path.join(path.resolve(stateDir), "pki", lab.name);
  const caDir = path.join(dir, "ca");
  const caCertPath = path.join(caDir, "ca.crt");
  const caKeyPath = path.join(caDir, "ca.key");
  if (!existsSync(caCertPath)) {
    requireOpenssl();
    await createAtomically(caDir, async (tmp) => {
      await fs.writeFile(path.join(tmp, "ca.cnf"), CA_CONFIG(`patchlab lab CA (${lab.name})`));
      await openssl(["req", "-x509", "-config", "ca.cnf", ...KEY_ARGS, "-keyout", "ca.key", "-out", "ca.crt", "-days", String(CA_DAYS), "-sha256"], tmp);
      await fs.chmod(path.join(tmp, "ca.key"), 0o600);
      await fs.rm(path.join(tmp, "ca.cnf"));
    });
  }
  let caCertPem: string;
  let ca: X509Certificate;
  try {
    caCertPem = await fs.readFile(caCertPath, "utf8");
    ca = new X509Certificate(caCertPem);
    await fs.access(caKeyPath);
  } catch (e) {
    throw new LabError("harness", `the lab CA in ${caDir} is unreadable: ${(e as Error).message}`, `delete ${dir} to make a new CA (then re-provision the lab: \`patchlab lab down\` and up)`, {}, { cause: e });
  }

  async function issue(names: string[]): Promise<{ certPem: string; keyPem: string }> {
    validateNames(names);
    const id = createHash("sha256").update(names.join("\n")).digest("hex").slice(0, 16);
    const certDir = path.join(dir, "issued", id);
    const certFile = path.join(certDir, "cert.pem");
    const keyFile = path.join(certDir, "key.pem");
    const usable = async () => {
      try {
        const certPem = await fs.readFile(certFile, "utf8");
        const keyPem = await fs.readFile(keyFile, "utf8");
        const c = new X509Certificate(certPem);
        const ok = c.checkIssued(ca) && c.verify(ca.publicKey) && Date.parse(c.validTo) - Date.now() > RENEW_BEFORE_MS;
        return ok ? { certPem, keyPem } : undefined;
      } catch {
        return undefined;
      }
    };
    const cached = await usable();
    if (cached) return cached;
    requireOpenssl();
    await fs.rm(certDir, { recursive: true, force: true });
    await createAtomically(certDir, async (tmp) => {
      await fs.writeFile(path.join(tmp, "ext.cnf"), SERVER_EXT(names));
      await fs.writeFile(path.join(tmp, "names.txt"), names.join("\n") + "\n");
      await openssl(["req", "-new", ...KEY_ARGS, "-keyout", "key.pem", "-subj", `/O=patchlab/CN=${names[0]}`, "-out", "req.csr"], tmp);
      await openssl(
        ["x509", "-req", "-in", "req.csr", "-CA", caCertPath, "-CAkey", caKeyPath, "-set_serial", `0x${randomBytes(16).toString("hex").replace(/^[89a-f]/, "1")}`,
          "-days", String(SERVER_DAYS), "-sha256", "-extfile", "ext.cnf", "-extensions", "v3_srv", "-out", "cert.pem"],
        tmp,
      );
      await fs.chmod(path.join(tmp, "key.pem"), 0o600);
      await fs.rm(path.join(tmp, "req.csr"));
    });
    const issued = await usable();
    if (!issued) throw new LabError("harness", `the certificate issued for ${names.join(", ")} does not verify against the lab CA`, `delete ${dir} and try again`);
    return issued;
  }

  return { caCertPem, caCertPath, issue };
}
