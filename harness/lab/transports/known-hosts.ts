// Host key checking against an OpenSSH known_hosts file: plain and hashed (|1|salt|hash)
// host fields, [host]:port for ports other than 22, patterns with * ? and !negation, and
// @revoked lines. @cert-authority lines are not supported (never match). Trust on first
// use records an unknown host's key; a host whose recorded key differs is always refused.
import { createHash, createHmac } from "node:crypto";
import fs from "node:fs";
import path from "node:path";

export interface KnownHost {
  marker?: "@revoked" | "@cert-authority";
  /** The host field as written (comma-separated patterns, or one hashed entry). */
  hosts: string;
  keyType: string;
  /** base64 of the key blob. */
  key: string;
  line: number;
}

export function parseKnownHosts(text: string): KnownHost[] {
  const out: KnownHost[] = [];
  text.split("\n").forEach((raw, i) => {
    const line = raw.trim();
    if (!line || line.startsWith("#")) return;
    const parts = line.split(/\s+/);
    let marker: KnownHost["marker"];
    if (parts[0] === "@revoked" || parts[0] === "@cert-authority") marker = parts.shift() as KnownHost["marker"];
    const [hosts, keyType, key] = parts;
    if (!hosts || !keyType || !key) return;
    out.push({ ...(marker ? { marker } : {}), hosts, keyType, key, line: i + 1 });
  });
  return out;
}

/** How known_hosts names a host: `host`, or `[host]:port` when the port is not 22. */
export function hostField(host: string, port: number): string {
  return port === 22 ? host : `[${host}]:${port}`;
}

function globMatch(pattern: string, s: string): boolean {
  const re = new RegExp(`^${pattern.replace(/[.+^${}()|[\]\\]/g, "\\$&").replace(/\*/g, ".*").replace(/\?/g, ".")}$`, "i");
  return re.test(s);
}

/** Whether a known_hosts host field names this host and port. */
export function hostMatches(hosts: string, host: string, port: number): boolean {
  const name = hostField(host, port);
  if (hosts.startsWith("|1|")) {
    const [, , salt, hash] = hosts.split("|");
    if (!salt || !hash) return false;
    const mac = createHmac("sha1", Buffer.from(salt, "base64")).update(name).digest("base64");
    return mac === hash;
  }
  let matched = false;
  for (const p of hosts.split(",")) {
    if (p.startsWith("!")) {
      if (globMatch(p.slice(1), name)) return false;
    } else if (globMatch(p, name)) {
      matched = true;
    }
  }
  return matched;
}

/** The key type written at the start of an SSH public key blob (e.g. ssh-ed25519). */
export function keyTypeOf(blob: Buffer): string {
  if (blob.length < 4) return "unknown";
  const n = blob.readUInt32BE(0);
  return n > 0 && n < 64 && blob.length >= 4 + n ? blob.subarray(4, 4 + n).toString("latin1") : "unknown";
}

/** OpenSSH's fingerprint form: SHA256:<base64 without padding>. */
export function fingerprintOf(blob: Buffer): string {
  return `SHA256:${createHash("sha256").update(blob).digest("base64").replace(/=+$/, "")}`;
}

/** Host key algorithms to offer first so the server presents a key type we hold. */
export function preferredHostKeyAlgorithms(entries: KnownHost[]): string[] {
  const algos: string[] = [];
  for (const e of entries) {
    const list = e.keyType === "ssh-rsa" ? ["rsa-sha2-512", "rsa-sha2-256", "ssh-rsa"] : [e.keyType];
    for (const a of list) if (!algos.includes(a)) algos.push(a);
  }
  return algos;
}

export type HostKeyVerdict =
  | { ok: true; recorded: boolean }
  | { ok: false; reason: "unknown" | "mismatch" | "revoked"; message: string; remedy: string };

export interface HostKeyPolicy {
  file: string;
  host: string;
  port: number;
  trustOnFirstUse: boolean;
}

export function readKnownHosts(file: string): KnownHost[] {
  try {
    return parseKnownHosts(fs.readFileSync(file, "utf8"));
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return [];
    throw e;
  }
}

/** Entries naming this host (not cert authorities). */
export function entriesFor(entries: KnownHost[], host: string, port: number): KnownHost[] {
  return entries.filter((e) => e.marker !== "@cert-authority" && hostMatches(e.hosts, host, port));
}

/** Decides whether to accept the key a server presented; records it when trusting on first use. */
export function verifyHostKey(policy: HostKeyPolicy, blob: Buffer): HostKeyVerdict {
  const { file, host, port } = policy;
  const name = hostField(host, port);
  const key = blob.toString("base64");
  const type = keyTypeOf(blob);
  const fp = fingerprintOf(blob);
  const mine = entriesFor(readKnownHosts(file), host, port);
  if (mine.some((e) => e.marker === "@revoked" && e.key === key)) {
    return { ok: false, reason: "revoked", message: `${name} presented host key ${type} ${fp}, which ${file} marks @revoked`, remedy: "the machine's key was revoked: find out why before connecting again" };
  }
  const trusted = mine.filter((e) => !e.marker);
  if (trusted.some((e) => e.key === key)) return { ok: true, recorded: false };
  if (trusted.length > 0) {
    const lines = trusted.map((e) => e.line).join(", ");
    return {
      ok: false,
      reason: "mismatch",
      message: `host key of ${name} changed: it presented ${type} ${fp}, which differs from what ${file} holds for it (line ${lines})`,
      remedy: `if the machine was really reinstalled, verify ${fp} out of band and replace line ${lines} of ${file} (\`ssh-keygen -R '${name}' -f ${file}\`); otherwise someone may be in the way: do not connect`,
    };
  }
  if (!policy.trustOnFirstUse) {
    return {
      ok: false,
      reason: "unknown",
      message: `${name} is not in ${file} (it presented ${type} ${fp})`,
      remedy: `verify ${fp} out of band, then add the key (\`ssh-keyscan -p ${port} ${host} >> ${file}\`), or set \`trustOnFirstUse: true\` on the machine's ssh: block to record it on first connect`,
    };
  }
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.appendFileSync(file, `${name} ${type} ${key}\n`, { mode: 0o600 });
  return { ok: true, recorded: true };
}
