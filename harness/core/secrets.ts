// Lab credentials (database, file share, wiki, ssh key) come from a secrets file outside the
// committed config, or from the environment, never from lab-config/. The file is made with
// random values on first use. Every known secret value is redacted from what patchlab writes
// (redact.ts: log lines, the terminal, every file of a run).
import { randomBytes } from "node:crypto";
import fs from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";
import { stringify, parse } from "yaml";
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


/** Forget what is known (tests that change secrets between cases). */
export function resetSecretsForTests(): void {
  cached = undefined;
  forgetSecrets();
}
