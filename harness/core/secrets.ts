// Lab credentials (database, file share, wiki, ssh key) come from a secrets file outside the
// committed config, or from the environment, never from lab-config/. The file is made with
// random values on first use. Every known secret value is redacted from what patchlab writes
// (redact.ts: log lines, the terminal, every file of a run).
import { randomBytes } from "node:crypto";
import fs from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";
import { parse, parseDocument, stringify } from "yaml";
import { z } from "zod";
import { ConfigError } from "./errors.ts";
import { configRoot, repoRoot, reportsRoot, stateDir } from "./paths.ts";
import { DEFAULT_USERS, forgetSecrets, rememberSecrets, secretsFile } from "./redact.ts";

export { redact, redactOutput, registerSecret, scrubTree, holdsSecret, secretsFile } from "./redact.ts";

const user = z.string().regex(/^[a-z_][a-z0-9_-]{0,31}$/, "must be a user name (lower-case letters, digits, '_', '-')");
const password = z
  .string()
  .min(8, "must be at least 8 characters")
  .max(128)
  .regex(/^[\x21-\x7e]+$/, "must be printable ASCII without spaces");

const Credential = z.object({ user, password }).strict();

/** A machine reached over SSH (the ssh driver): its login, by the name its lab file gives (ssh.credentials). */
export const MachineSecret = z
  .object({
    privateKey: z.string().min(1).optional().describe("the private key itself (OpenSSH or PEM)"),
    privateKeyFile: z.string().min(1).optional().describe("path of the private key file (absolute, or relative to this file)"),
    passphrase: z.string().optional().describe("passphrase of an encrypted private key"),
    password: z.string().optional().describe("login password (keys are preferred)"),
  })
  .strict();
export type MachineSecret = z.infer<typeof MachineSecret>;
/** The name the ssh transport (harness/lab/transports/secrets.ts) knows it by. */
export const MachineCredential = MachineSecret;

const LabSsh = z
  .object({
    user,
    privateKey: z.string().regex(/-----BEGIN [A-Z ]*PRIVATE KEY-----/, "must be a PEM/OpenSSH private key"),
    publicKey: z
      .string()
      .regex(/^ssh-[a-z0-9-]+ [A-Za-z0-9+/=]+/, "must be an OpenSSH public key line")
      .optional()
      .describe("derived from privateKey when absent; must match it when given"),
  })
  .strict()
  .describe("key the client machines log in to ssh machines with");

export const Secrets = z
  .object({
    db: Credential.describe("PostgreSQL role on db machines"),
    file: Credential.describe("Samba user on file machines"),
    wiki: Credential.describe("DokuWiki superuser on app machines"),
    ssh: LabSsh,
    machines: z
      .record(z.string().regex(/^[a-z][a-z0-9-]{0,30}$/, "must be a machine or credential name"), MachineSecret)
      .default({})
      .describe("logins of machines reached over SSH (ssh driver), by name: a machine's ssh.credentials, default its name"),
  })
  .strict()
  .meta({ title: "patchlab lab secrets", description: "Lab credentials; kept outside committed config (default <state dir>/secrets.yaml, mode 0600)." });
export type Secrets = z.infer<typeof Secrets>;
/** The lab's credentials once loaded: the ssh public key is always there (derived when not given). */
export type LabSecrets = Omit<Secrets, "ssh"> & { ssh: Required<Secrets["ssh"]> };
/** The sections patchlab makes itself when absent (machines' logins only a person can give). */
const LAB_SECTIONS = ["db", "file", "wiki", "ssh"] as const;

export const SECRETS_FILE_ENV = "PATCHLAB_SECRETS_FILE";
export const SECRET_ENV_PREFIX = "PATCHLAB_SECRET_";

const LAB_FIELDS: Record<string, string> = { USER: "user", PASSWORD: "password", PRIVATE_KEY: "privateKey", PUBLIC_KEY: "publicKey" };
const MACHINE_FIELDS: Record<string, keyof MachineSecret> = { PRIVATE_KEY_FILE: "privateKeyFile", PRIVATE_KEY: "privateKey", PASSPHRASE: "passphrase", PASSWORD: "password" };
// A machine's login: PATCHLAB_SECRET_MACHINE_<NAME>_<FIELD>, or the ssh driver's
// PATCHLAB_SECRET_<NAME>_<FIELD> (harness/lab/transports/secrets.ts): not the lab's, left to it.
const MACHINE_ENV = /^(?:MACHINE_)?([A-Z0-9_]+?)_(PRIVATE_KEY_FILE|PRIVATE_KEY|PASSPHRASE|PASSWORD)$/;
const LAB_ENV = /^(?:(?:DB|FILE|WIKI)_(?:USER|PASSWORD)|SSH_(?:USER|PRIVATE_KEY|PUBLIC_KEY))$/;

/** PATCHLAB_SECRET_MACHINE_<NAME>_ for a machine's login (a '-' in the name is '_'). */
export function machineEnvPrefix(name: string): string {
  return `${SECRET_ENV_PREFIX}MACHINE_${name.toUpperCase().replace(/[^A-Z0-9]/g, "_")}_`;
}

/**
 * Environment overrides: PATCHLAB_SECRET_DB_PASSWORD, PATCHLAB_SECRET_SSH_PRIVATE_KEY... and
 * PATCHLAB_SECRET_MACHINE_<NAME>_<FIELD> (read by machineSecret). Any other PATCHLAB_SECRET_
 * variable is a typo: refused rather than silently ignored.
 */
function fromEnv(env: NodeJS.ProcessEnv = process.env): Record<string, Record<string, string>> {
  const out: Record<string, Record<string, string>> = {};
  for (const [k, v] of Object.entries(env)) {
    if (!k.startsWith(SECRET_ENV_PREFIX) || v === undefined) continue;
    const rest = k.slice(SECRET_ENV_PREFIX.length);
    if (!LAB_ENV.test(rest) && MACHINE_ENV.test(rest)) continue;
    const section = ["DB", "FILE", "WIKI", "SSH"].find((s) => rest.startsWith(`${s}_`));
    const field = section ? LAB_FIELDS[rest.slice(section.length + 1)] : undefined;
    if (!section || !field || (field === "privateKey" || field === "publicKey") !== (section === "SSH")) {
      throw new ConfigError(
        `environment variable ${k} names no lab secret`,
        `use ${SECRET_ENV_PREFIX}<DB|FILE|WIKI>_<USER|PASSWORD>, ${SECRET_ENV_PREFIX}SSH_<USER|PRIVATE_KEY|PUBLIC_KEY> or ${SECRET_ENV_PREFIX}MACHINE_<NAME>_<PRIVATE_KEY|PRIVATE_KEY_FILE|PASSPHRASE|PASSWORD>; or unset it`,
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

function generate(): Pick<Secrets, (typeof LAB_SECTIONS)[number]> {
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

interface Ssh2Utils {
  generateKeyPairSync(t: string): { private: string; public: string };
  parseKey(data: string): { type: string; getPublicSSH(): Buffer } | Error | unknown[];
}
/** ssh2's key helpers, loaded only when a key is made or read (the CLI's start stays light). */
function ssh2Utils(): Ssh2Utils {
  return (createRequire(import.meta.url)("ssh2") as { utils: Ssh2Utils }).utils;
}

/** An ed25519 key pair in the OpenSSH formats sshd and ssh expect. */
function sshKeyPair(): { private: string; public: string } {
  const k = ssh2Utils().generateKeyPairSync("ed25519");
  return { private: k.private, public: k.public.trim() };
}

/** The public key line of the lab's ssh key; a given publicKey must belong to the private key. */
function withPublicKey(ssh: Secrets["ssh"], file: string): Required<Secrets["ssh"]> {
  const key = ssh2Utils().parseKey(ssh.privateKey);
  if (key instanceof Error || Array.isArray(key) || !key || typeof key !== "object") {
    throw new ConfigError(
      `lab secrets (${file}): ssh.privateKey cannot be read as an unencrypted private key`,
      `put an unencrypted OpenSSH or PEM key in ssh.privateKey of ${file} (or ${SECRET_ENV_PREFIX}SSH_PRIVATE_KEY), or delete the ssh section to have one made`,
      { file, field: "ssh.privateKey" },
    );
  }
  const k = key as { type: string; getPublicSSH(): Buffer };
  const derived = `${k.type} ${k.getPublicSSH().toString("base64")}`;
  if (ssh.publicKey !== undefined && ssh.publicKey.split(/\s+/)[1] !== derived.split(" ")[1]) {
    throw new ConfigError(
      `lab secrets (${file}): ssh.publicKey is not the public half of ssh.privateKey`,
      `fix ssh.publicKey in ${file} (or ${SECRET_ENV_PREFIX}SSH_PUBLIC_KEY), or remove it: it is derived from the private key`,
      { file, field: "ssh.publicKey" },
    );
  }
  return { ...ssh, publicKey: ssh.publicKey?.trim() ?? derived };
}

/** The file's text, after checking it is a private regular file; undefined when absent. */
function readText(file: string): string | undefined {
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
  return fs.readFileSync(file, "utf8");
}

function parseText(file: string, text: string): Record<string, unknown> {
  let data: unknown;
  try {
    data = parse(text, { maxAliasCount: 10 });
  } catch {
    // The parser's message may quote the offending line, i.e. a secret: say where only.
    throw new ConfigError(`secrets file ${file} is not valid YAML`, "fix its YAML syntax, or delete it to have new random secrets made", { file });
  }
  if (data === null || data === undefined) return {};
  if (typeof data !== "object" || Array.isArray(data)) throw new ConfigError(`secrets file ${file} is not a YAML mapping`, "write sections db, file, wiki, ssh (and machines), or delete it to have new ones made", { file });
  return data as Record<string, unknown>;
}

function validate<T extends z.ZodType>(schema: T, data: unknown, where: string): z.infer<T> {
  const r = schema.safeParse(data);
  if (r.success) return r.data;
  const i = r.error.issues[0]!;
  const field = i.path.join(".");
  const env = field.startsWith("machines.") ? "" : `, or set ${SECRET_ENV_PREFIX}${field.replace(/([A-Z])/g, "_$1").replace(/\./g, "_").toUpperCase()}`;
  throw new ConfigError(
    `lab secrets (${where}): ${field || "(top)"}: ${i.message}`,
    `fix ${field || "the file"} in ${where}${field ? env : ""}`,
    { file: secretsFile(), field },
  );
}

function merge(base: Record<string, unknown>, env: Record<string, Record<string, string>>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...base };
  for (const [s, fields] of Object.entries(env)) out[s] = { ...((base[s] as object | undefined) ?? {}), ...fields };
  return out;
}

let cached: LabSecrets | undefined;

/**
 * The lab's credentials: the secrets file (made with random values when absent; sections it
 * lacks are added) with the environment's PATCHLAB_SECRET_* on top. Roles and suites read
 * credentials from here when they use them (never at import: a command refused as bad input
 * must not make the file).
 */
export function labSecrets(): LabSecrets {
  if (cached) return cached;
  const file = secretsFile();
  refuseCommittedPath(file);
  const env = fromEnv();
  let text = readText(file);
  if (text === undefined) {
    writePrivate(file, `# patchlab lab secrets: made on first use, never commit. Delete to make new ones.\n${stringify(generate())}`, { exclusive: true });
    text = readText(file)!;
  }
  let data = parseText(file, text);
  if (LAB_SECTIONS.some((s) => data[s] === undefined)) data = addMissingSections(file);
  const s = validate(Secrets, merge(data, env), file);
  cached = { ...s, ssh: withPublicKey(s.ssh, file) };
  rememberSecrets(cached);
  return cached;
}

/**
 * A file someone wrote with some sections only (e.g. just machines' logins): the lab's own
 * sections are made and added to it, keeping what is there (comments too). Under a lock, so
 * two processes starting at once agree on one set of values.
 */
function addMissingSections(file: string): Record<string, unknown> {
  return withFileLock(`${file}.lock`, () => {
    const text = readText(file) ?? "";
    const doc = parseDocument(text);
    const data = parseText(file, text);
    const made = generate();
    for (const s of LAB_SECTIONS) if (data[s] === undefined) doc.set(s, made[s]);
    writePrivate(file, doc.toString(), { exclusive: false });
    return parseText(file, readText(file)!);
  });
}

function withFileLock<T>(lock: string, fn: () => T): T {
  const until = Date.now() + 10_000;
  for (;;) {
    try {
      fs.writeFileSync(lock, `${process.pid}\n`, { flag: "wx", mode: 0o600 });
      break;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e;
      const age = Date.now() - (fs.statSync(lock, { throwIfNoEntry: false })?.mtimeMs ?? Date.now());
      if (age > 30_000) fs.rmSync(lock, { force: true }); // left by a killed process: a fill takes milliseconds
      if (Date.now() > until) throw new ConfigError(`secrets file lock ${lock} is held for over 10 s`, `remove ${lock} if no patchlab process is running`, { file: lock });
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 50);
    }
  }
  try {
    return fn();
  } finally {
    fs.rmSync(lock, { force: true });
  }
}

/** Writes a private file atomically; `exclusive`: when another process made it first, theirs wins. */
function writePrivate(file: string, text: string, o: { exclusive: boolean }): void {
  fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  const tmp = `${file}.${process.pid}.${randomBytes(4).toString("hex")}.tmp`;
  fs.writeFileSync(tmp, text, { mode: 0o600, flag: "wx" });
  try {
    if (!o.exclusive) return fs.renameSync(tmp, file);
    fs.linkSync(tmp, file);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e;
  } finally {
    fs.rmSync(tmp, { force: true });
  }
}

/**
 * The login of a machine reached over SSH (the ssh driver), by its credential name: the
 * environment's PATCHLAB_SECRET_MACHINE_<NAME>_* when any is set, else the secrets file's
 * machines.<name>. Reads only: nothing is made for a machine (only a person can give its login).
 */
export function machineSecret(name: string, o: { file?: string; env?: NodeJS.ProcessEnv } = {}): { entry: MachineSecret | undefined; source: string; base: string; file: string } {
  const file = path.resolve(o.file ?? secretsFile());
  const env = o.env ?? process.env;
  const prefix = machineEnvPrefix(name);
  const fromVars: MachineSecret = {};
  for (const [suffix, field] of Object.entries(MACHINE_FIELDS)) {
    const v = env[`${prefix}${suffix}`];
    if (v !== undefined) fromVars[field] = v;
  }
  if (Object.keys(fromVars).length > 0) return { entry: fromVars, source: `environment ${prefix}*`, base: process.cwd(), file };
  refuseCommittedPath(file);
  const text = readText(file);
  const data = text === undefined ? {} : validate(Secrets.partial(), parseText(file, text), file);
  return { entry: data.machines?.[name], source: `secrets file ${file}, entry ${name}`, base: path.dirname(file), file };
}

/** Forget what is known (tests that change secrets between cases). */
export function resetSecretsForTests(): void {
  cached = undefined;
  forgetSecrets();
}
