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

type Known = Partial<Record<"db" | "file" | "wiki", { user?: string; password?: string }>> & { ssh?: { privateKey?: string } };

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
  const fields: Record<string, string> = { USER: "user", PASSWORD: "password", PRIVATE_KEY: "privateKey" };
  for (const [k, v] of Object.entries(process.env)) {
    const m = /^PATCHLAB_SECRET_(DB|FILE|WIKI|SSH)_(USER|PASSWORD|PRIVATE_KEY)$/.exec(k);
    if (!m || v === undefined) continue;
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

function currentNeedles(): Needle[] {
  needles ??= needlesFor(known ?? knownWithoutCreating());
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

function scrubFile(file: string, list: Needle[]): boolean {
  const buf = fs.readFileSync(file);
  if (!list.some((n) => buf.includes(n.text))) return false;
  let out: Buffer;
  if (!buf.includes(0)) {
    out = Buffer.from(redact(buf.toString("utf8")));
  } else {
    out = Buffer.from(buf);
    for (const n of list) {
      const needle = Buffer.from(n.text);
      for (let i = out.indexOf(needle); i >= 0; i = out.indexOf(needle, i + needle.length)) out.fill(0x2a, i, i + needle.length);
    }
  }
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
