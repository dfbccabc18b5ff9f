// Lab credentials (database, file share, wiki, ssh key) come from a secrets file outside the
// committed config, or from the environment, never from lab-config/. The file is made with
// random values on first use. Every known secret value is redacted from what patchlab writes:
// log lines (log.ts), the terminal (redactOutput) and every file of a run (scrubTree).
import { randomBytes } from "node:crypto";
import fs from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";
import { stringify, parse } from "yaml";
import { z } from "zod";
import { ConfigError } from "./errors.ts";
import { configRoot, repoRoot, reportsRoot, stateDir } from "./paths.ts";

const user = z.string().regex(/^[a-z_][a-z0-9_-]{0,31}$/, "must be a user name (lower-case letters, digits, '_', '-')");
const password = z
  .string()
  .min(8, "must be at least 8 characters")
  .max(128)
  .regex(/^[\x21-\x7e]+$/, "must be printable ASCII without spaces");

const Credential = z.object({ user, password }).strict();

export const Secrets = z
  .object({
    db: Credential.describe("PostgreSQL role on db machines"),
    file: Credential.describe("Samba user on file machines"),
    wiki: Credential.describe("DokuWiki superuser on app machines"),
    ssh: z
      .object({
        user,
        privateKey: z.string().regex(/-----BEGIN [A-Z ]*PRIVATE KEY-----/, "must be a PEM/OpenSSH private key"),
        publicKey: z.string().regex(/^ssh-[a-z0-9-]+ [A-Za-z0-9+/=]+/, "must be an OpenSSH public key line"),
      })
      .strict()
      .describe("key the client machine logs in to ssh machines with"),
  })
  .strict()
  .meta({ title: "patchlab lab secrets", description: "Lab credentials; kept outside committed config (default <state dir>/secrets.yaml, mode 0600)." });
export type Secrets = z.infer<typeof Secrets>;

export const SECRETS_FILE_ENV = "PATCHLAB_SECRETS_FILE";
export const SECRET_ENV_PREFIX = "PATCHLAB_SECRET_";

/** The users the lab images are built with; not secret, but overridable with the passwords. */
const DEFAULT_USERS = { db: "labuser", file: "labuser", wiki: "labadmin", ssh: "labuser" } as const;

export function secretsFile(): string {
  return path.resolve(process.env[SECRETS_FILE_ENV] ?? path.join(stateDir(), "secrets.yaml"));
}

/** Environment overrides: PATCHLAB_SECRET_DB_PASSWORD, PATCHLAB_SECRET_SSH_PRIVATE_KEY... */
function fromEnv(): Record<string, Record<string, string>> {
  const out: Record<string, Record<string, string>> = {};
  const fields: Record<string, string> = { USER: "user", PASSWORD: "password", PRIVATE_KEY: "privateKey", PUBLIC_KEY: "publicKey" };
  for (const [k, v] of Object.entries(process.env)) {
    if (!k.startsWith(SECRET_ENV_PREFIX) || v === undefined) continue;
    const rest = k.slice(SECRET_ENV_PREFIX.length);
    const section = ["DB", "FILE", "WIKI", "SSH"].find((s) => rest.startsWith(`${s}_`));
    const field = section ? fields[rest.slice(section.length + 1)] : undefined;
    if (!section || !field) {
      throw new ConfigError(
        `environment variable ${k} names no lab secret`,
        `use ${SECRET_ENV_PREFIX}<DB|FILE|WIKI|SSH>_<USER|PASSWORD> (SSH: _PRIVATE_KEY, _PUBLIC_KEY), or unset it`,
        { field: k },
      );
    }
    (out[section.toLowerCase()] ??= {})[field] = v;
  }
  return out;
}

/** Where a secrets file may not live: inside the repository's committed tree. */
function refuseCommittedPath(file: string): void {
  const inside = (dir: string) => {
    const r = path.relative(dir, file);
    return r !== "" && !r.startsWith("..") && !path.isAbsolute(r);
  };
  if (inside(configRoot()) || (inside(repoRoot) && !inside(reportsRoot()))) {
    throw new ConfigError(
      `secrets file ${file} is inside the repository's committed files; lab credentials must never be committed`,
      `keep it outside the repository or under reports/ (gitignored): the default is ${path.join(stateDir(), "secrets.yaml")}; set ${SECRETS_FILE_ENV} to move it`,
      { file, field: SECRETS_FILE_ENV },
    );
  }
}

function generate(): Secrets {
  const pw = () => randomBytes(18).toString("base64url");
  // ssh2 writes the OpenSSH formats sshd and the client's ssh expect.
  const key = sshKeyPair();
  return {
    db: { user: DEFAULT_USERS.db, password: pw() },
    file: { user: DEFAULT_USERS.file, password: pw() },
    wiki: { user: DEFAULT_USERS.wiki, password: pw() },
    ssh: { user: DEFAULT_USERS.ssh, privateKey: key.private, publicKey: key.public },
  };
}

/** An ed25519 key pair in the OpenSSH formats sshd and ssh expect (ssh2, loaded only when a key is made). */
function sshKeyPair(): { private: string; public: string } {
  const ssh2 = createRequire(import.meta.url)("ssh2") as { utils: { generateKeyPairSync(t: string): { private: string; public: string } } };
  return ssh2.utils.generateKeyPairSync("ed25519");
}

function readFile(file: string): unknown {
  const stat = fs.statSync(file, { throwIfNoEntry: false });
  if (!stat) return undefined;
  if (!stat.isFile()) throw new ConfigError(`secrets file ${file} is not a regular file`, `point ${SECRETS_FILE_ENV} at a YAML file`, { file });
  if ((stat.mode & 0o077) !== 0) {
    throw new ConfigError(
      `secrets file ${file} can be read by other users (mode ${(stat.mode & 0o777).toString(8)})`,
      `make it private: chmod 600 ${file}`,
      { file },
    );
  }
  try {
    return parse(fs.readFileSync(file, "utf8"), { maxAliasCount: 10 });
  } catch (e) {
    throw new ConfigError(`secrets file ${file} is not valid YAML: ${(e as Error).message.split("\n")[0]}`, "fix it, or delete it to have new random secrets made", { file });
  }
}

function validate(data: unknown, where: string): Secrets {
  const r = Secrets.safeParse(data);
  if (r.success) return r.data;
  const i = r.error.issues[0]!;
  const field = i.path.join(".");
  throw new ConfigError(
    `lab secrets (${where}): ${field || "(top)"}: ${i.message}`,
    `fix ${field || "the file"} in ${where}${field ? `, or set ${SECRET_ENV_PREFIX}${field.replace(/([A-Z])/g, "_$1").replace(/\./g, "_").toUpperCase()}` : ""}`,
    { file: secretsFile(), field },
  );
}

function merge(base: Record<string, unknown>, env: Record<string, Record<string, string>>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...base };
  for (const [s, fields] of Object.entries(env)) out[s] = { ...((base[s] as object | undefined) ?? {}), ...fields };
  return out;
}

let cached: Secrets | undefined;

/**
 * The lab's credentials: the secrets file (made with random values when absent) with the
 * environment's PATCHLAB_SECRET_* on top. Roles and suites read credentials from here, when
 * they use them (never at import: a command refused as bad input must not make the file).
 */
export function labSecrets(): Secrets {
  if (cached) return cached;
  const file = secretsFile();
  refuseCommittedPath(file);
  const env = fromEnv();
  let data = readFile(file);
  if (data === undefined) {
    data = generate();
    writePrivate(file, `# patchlab lab secrets: made on first use, never commit. Delete to make new ones.\n${stringify(data)}`);
  }
  cached = validate(merge((data ?? {}) as Record<string, unknown>, env), file);
  rememberSecrets(cached);
  return cached;
}

/** Credentials from the environment alone (no file made or read): for redaction before any use. */
function knownWithoutCreating(): Partial<Secrets> {
  let data: Record<string, unknown> = {};
  try {
    const file = secretsFile();
    const raw = readFile(file);
    if (raw && typeof raw === "object") data = raw as Record<string, unknown>;
  } catch {
    /* an unreadable file is reported when the secrets are used; redaction uses what it can */
  }
  try {
    return merge(data, fromEnv()) as Partial<Secrets>;
  } catch {
    return data as Partial<Secrets>;
  }
}

function writePrivate(file: string, text: string): void {
  fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  const tmp = `${file}.${process.pid}.${randomBytes(4).toString("hex")}.tmp`;
  fs.writeFileSync(tmp, text, { mode: 0o600, flag: "wx" });
  try {
    fs.linkSync(tmp, file); // a concurrent first use may have made it: theirs wins, ours goes
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e;
  } finally {
    fs.rmSync(tmp, { force: true });
  }
}

// ---- redaction ---------------------------------------------------------------------------

interface Needle {
  text: string;
  label: string;
}
let needles: Needle[] | undefined;
const extra = new Map<string, string>();

/** Values that must never be written, with the forms they take in JSON, URLs and basic auth. */
function needlesFor(s: Partial<Secrets>): Needle[] {
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

function rememberSecrets(s: Partial<Secrets>): void {
  needles = needlesFor(s);
}

/** Also redact this value (a credential a test or an extension made up on the fly). */
export function registerSecret(value: string, label: string): void {
  extra.set(value, label);
  needles = undefined;
}

function currentNeedles(): Needle[] {
  needles ??= needlesFor(cached ?? knownWithoutCreating());
  return needles;
}

/** Forget what is known (tests that change secrets between cases). */
export function resetSecretsForTests(): void {
  cached = undefined;
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
