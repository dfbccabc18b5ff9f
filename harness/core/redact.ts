// Redaction of lab credentials from everything patchlab writes: log lines (log.ts), the
// terminal (redactOutput) and every file of a run (scrubTree). Kept light (no schema, YAML read
// only when a secrets file exists) because the CLI loads it before anything else.
import fs from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";
import { stateDir } from "./paths.ts";

/** The users the lab images are built with; not secret, but part of the forms a password travels in. */
export const DEFAULT_USERS = { db: "labuser", file: "labuser", wiki: "labadmin", ssh: "labuser" } as const;

export function secretsFile(): string {
  return path.resolve(process.env["PATCHLAB_SECRETS_FILE"] ?? path.join(stateDir(), "secrets.yaml"));
}

type Known = Partial<Record<"db" | "file" | "wiki", { user?: string; password?: string }>> & {
  ssh?: { privateKey?: string };
  machines?: Record<string, { privateKey?: string; passphrase?: string; password?: string }>;
};

/** What is known without making anything: the secrets file if it exists, the environment on top. */
function knownWithoutCreating(): Known {
  let data: Record<string, Record<string, string>> = {};
  try {
    const file = secretsFile();
    if (fs.existsSync(file)) {
      const yaml = createRequire(import.meta.url)("yaml") as { parse(t: string, o: object): unknown };
      const raw = yaml.parse(fs.readFileSync(file, "utf8"), { maxAliasCount: 10 });
      if (raw && typeof raw === "object") data = raw as typeof data;
    }
  } catch {
    /* an unreadable file is reported where the secrets are used; redaction uses what it can */
  }
  const fields: Record<string, string> = { USER: "user", PASSWORD: "password", PRIVATE_KEY: "privateKey", PASSPHRASE: "passphrase" };
  for (const [k, v] of Object.entries(process.env)) {
    if (v === undefined) continue;
    const m = /^PATCHLAB_SECRET_(DB|FILE|WIKI|SSH)_(USER|PASSWORD|PRIVATE_KEY)$/.exec(k);
    if (!m) continue;
    const section = m[1]!.toLowerCase();
    data[section] = { ...(data[section] ?? {}), [fields[m[2]!]!]: v };
  }
  return data as Known;
}


interface Needle {
  text: string;
  label: string;
}
let needles: Needle[] | undefined;
let known: Known | undefined;
const extra = new Map<string, string>();

/** Values that must never be written, with the forms they take in JSON, URLs and basic auth. */
function needlesFor(s: Known): Needle[] {
  const out: Needle[] = [];
  const add = (value: string | undefined, label: string, userName?: string) => {
    if (!value || value.length < 6) return;
    const forms = new Set([value, JSON.stringify(value).slice(1, -1), encodeURIComponent(value)]);
    if (userName) forms.add(Buffer.from(`${userName}:${value}`).toString("base64"));
    for (const f of forms) out.push({ text: f, label });
    // A key is also found line by line (a log may have cut it).
    if (value.includes("\n")) for (const line of value.split("\n")) if (line.length >= 32 && !line.startsWith("-----")) out.push({ text: line, label });
  };
  for (const section of ["db", "file", "wiki"] as const) add(s[section]?.password, `${section}.password`, s[section]?.user ?? DEFAULT_USERS[section]);
  add(s.ssh?.privateKey, "ssh.privateKey");
  for (const [name, m] of Object.entries(s.machines ?? {})) {
    if (!m || typeof m !== "object") continue;
    for (const f of ["password", "passphrase", "privateKey"] as const) add(typeof m[f] === "string" ? m[f] : undefined, `machines.${name}.${f}`);
  }
  for (const [v, label] of extra) add(v, label);
  // Longest first: a value that contains another is replaced whole.
  return out.sort((a, b) => b.text.length - a.text.length);
}

/** The secrets in use (secrets.ts, once loaded): redact exactly those. */
export function rememberSecrets(s: Known): void {
  known = s;
  needles = undefined;
}

/** Also redact this value (a credential a test or an extension made up on the fly). */
export function registerSecret(value: string, label: string): void {
  extra.set(value, label);
  needles = undefined;
}

/**
 * Machines' logins given in the environment (PATCHLAB_SECRET_[MACHINE_]<NAME>_<FIELD>, the ssh
 * driver's), whatever else is known: the lab's loaded secrets do not hold them.
 */
function machinesFromEnv(): NonNullable<Known["machines"]> {
  const out: Record<string, Record<string, string>> = {};
  const fields: Record<string, string> = { PASSWORD: "password", PRIVATE_KEY: "privateKey", PASSPHRASE: "passphrase" };
  for (const [k, v] of Object.entries(process.env)) {
    if (v === undefined || /^PATCHLAB_SECRET_(?:(?:DB|FILE|WIKI)_(?:USER|PASSWORD)|SSH_(?:USER|PRIVATE_KEY))$/.test(k)) continue;
    const m = /^PATCHLAB_SECRET_(?:MACHINE_)?([A-Z0-9_]+?)_(PASSWORD|PRIVATE_KEY|PASSPHRASE)$/.exec(k);
    if (m) (out[`env-${m[1]!.toLowerCase()}`] ??= {})[fields[m[2]!]!] = v;
  }
  return out;
}

function currentNeedles(): Needle[] {
  if (!needles) {
    const s = known ?? knownWithoutCreating();
    needles = needlesFor({ ...s, machines: { ...(s.machines ?? {}), ...machinesFromEnv() } });
  }
  return needles;
}

export function forgetSecrets(): void {
  known = undefined;
  needles = undefined;
  extra.clear();
}

/** `text` with every known secret value replaced by [redacted:<which>]. */
export function redact(text: string): string {
  let out = text;
  for (const n of currentNeedles()) if (out.includes(n.text)) out = out.split(n.text).join(`[redacted:${n.label}]`);
  return out;
}

/** Whether `buf` holds any known secret value. */
export function holdsSecret(buf: Buffer | string): boolean {
  const b = typeof buf === "string" ? Buffer.from(buf) : buf;
  return currentNeedles().some((n) => b.includes(n.text));
}

/**
 * Rewrite every file under `dir` that holds a known secret: text gets [redacted:...], binary
 * files (images, archives) have the bytes masked in place (same length, so offsets hold).
 * Returns the files rewritten. Symbolic links are not followed.
 */
export function scrubTree(dir: string): string[] {
  const list = currentNeedles();
  if (list.length === 0 || !fs.existsSync(dir)) return [];
  const changed: string[] = [];
  const walk = (d: string) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.isFile() && scrubFile(p, list)) changed.push(p);
    }
  };
  walk(dir);
  return changed;
}

/** Text gets [redacted:...]; binary content (images) has the bytes masked in place (same length, so offsets hold). */
function scrubBytes(buf: Buffer, list: Needle[]): Buffer {
  if (!buf.includes(0)) return Buffer.from(redact(buf.toString("utf8")));
  const out = Buffer.from(buf);
  for (const n of list) {
    const needle = Buffer.from(n.text);
    for (let i = out.indexOf(needle); i >= 0; i = out.indexOf(needle, i + needle.length)) out.fill(0x2a, i, i + needle.length);
  }
  return out;
}

const ZIP_MAGIC = Buffer.from([0x50, 0x4b, 0x03, 0x04]);

interface Fflate {
  unzipSync(d: Uint8Array): Record<string, Uint8Array>;
  zipSync(d: Record<string, Uint8Array>): Uint8Array;
}

/**
 * A zip archive (a browser's trace.zip: actions, DOM snapshots and network bodies, where a
 * typed password sits compressed) with every entry scrubbed, or undefined when none holds a
 * secret or the archive cannot be read (it is then scrubbed as plain bytes).
 */
function scrubZip(buf: Buffer, list: Needle[]): Buffer | undefined {
  const { unzipSync, zipSync } = createRequire(import.meta.url)("fflate") as Fflate;
  let entries: Record<string, Uint8Array>;
  try {
    entries = unzipSync(buf);
  } catch {
    return undefined;
  }
  let changed = false;
  for (const [name, data] of Object.entries(entries)) {
    const b = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
    if (!list.some((n) => b.includes(n.text))) continue;
    const inner = b.subarray(0, 4).equals(ZIP_MAGIC) ? (scrubZip(b, list) ?? scrubBytes(b, list)) : scrubBytes(b, list);
    entries[name] = new Uint8Array(inner);
    changed = true;
  }
  return changed ? Buffer.from(zipSync(entries)) : undefined;
}

/** Scrubs one file in place (atomically); a zip archive entry by entry. Returns whether it changed. */
export function scrubFile(file: string, list: Needle[] = currentNeedles()): boolean {
  const buf = fs.readFileSync(file);
  const zipped = buf.subarray(0, 4).equals(ZIP_MAGIC) ? scrubZip(buf, list) : undefined;
  if (!zipped && !list.some((n) => buf.includes(n.text))) return false;
  const out = zipped ?? scrubBytes(buf, list);
  const tmp = `${file}.${process.pid}.scrub`;
  fs.writeFileSync(tmp, out, { mode: fs.statSync(file).mode & 0o777 });
  fs.renameSync(tmp, file);
  return true;
}

/** Redact what this process writes to the terminal (stdout, stderr): error messages, verdicts. */
export function redactOutput(): void {
  for (const stream of [process.stdout, process.stderr]) {
    const write = stream.write.bind(stream) as (chunk: unknown, ...rest: unknown[]) => boolean;
    stream.write = ((chunk: unknown, ...rest: unknown[]) =>
      write(typeof chunk === "string" ? redact(chunk) : Buffer.isBuffer(chunk) && holdsSecret(chunk) ? redact(chunk.toString("utf8")) : chunk, ...rest)) as typeof stream.write;
  }
}
