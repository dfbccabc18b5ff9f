// SSH credentials: from the secrets file (YAML, never committed, readable by its owner only)
// or from the environment, which wins. A machine names its entry with `ssh.credentials`
// (default: its own name). Values are never logged nor put in error messages: errors name
// the file, the entry and the variable, nothing else.
//
//   # <state>/secrets.yaml (or $PATCHLAB_SECRETS)
//   ssh:
//     legacy-web:
//       privateKeyFile: /root/.ssh/lab_ed25519   # or privateKey: | -----BEGIN OPENSSH...
//       passphrase: ...                          # optional
//       password: ...                            # when the server takes passwords
//
//   PATCHLAB_SECRET_LEGACY_WEB_PRIVATE_KEY / _PRIVATE_KEY_FILE / _PASSPHRASE / _PASSWORD
import fs from "node:fs";
import path from "node:path";
import { parse as parseYaml } from "yaml";
import { z } from "zod";
import { ConfigError } from "../../core/errors.ts";
import { stateDir } from "../../core/paths.ts";

export const SshSecret = z
  .object({
    privateKey: z.string().min(1).optional().describe("the private key itself (OpenSSH or PEM)"),
    privateKeyFile: z.string().min(1).optional().describe("path of the private key file (absolute, or relative to this file)"),
    passphrase: z.string().optional().describe("passphrase of an encrypted private key"),
    password: z.string().optional().describe("login password (keys are preferred)"),
  })
  .strict();

export const SecretsFile = z
  .object({
    ssh: z.record(z.string().regex(/^[a-z][a-z0-9-]{0,30}$/), SshSecret).default({}).describe("credentials by name (a machine's ssh.credentials, default its name)"),
  })
  .strict()
  .meta({ title: "patchlab secrets", description: "Credentials for machines reached over SSH. Keep it out of version control, mode 0600." });

export interface SshCredentials {
  privateKey?: Buffer;
  passphrase?: string;
  password?: string;
  /** Where the credentials came from, for messages: "secrets file X, entry y" or "environment PATCHLAB_SECRET_Y_*". */
  source: string;
}

export function secretsFile(): string {
  return path.resolve(process.env.PATCHLAB_SECRETS ?? path.join(stateDir(), "secrets.yaml"));
}

export function envPrefix(name: string): string {
  return `PATCHLAB_SECRET_${name.toUpperCase().replace(/[^A-Z0-9]/g, "_")}_`;
}

function readSecretsFile(file: string): z.infer<typeof SecretsFile> | undefined {
  let text: string;
  try {
    const st = fs.statSync(file);
    if ((st.mode & 0o077) !== 0) {
      throw new ConfigError(`secrets file ${file} is readable by others (mode ${(st.mode & 0o777).toString(8)})`, `chmod 600 ${file}`, { file });
    }
    text = fs.readFileSync(file, "utf8");
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw e;
  }
  let data: unknown;
  try {
    data = parseYaml(text);
  } catch {
    // The parser's message may quote the offending line, i.e. a secret: say where only.
    throw new ConfigError(`secrets file ${file} is not valid YAML`, `fix the YAML syntax of ${file}`, { file });
  }
  const r = SecretsFile.safeParse(data ?? {});
  if (!r.success) {
    const where = r.error.issues.map((i) => i.path.join(".") || "(top level)").join(", ");
    throw new ConfigError(`secrets file ${file} has unexpected content at ${where}`, "write `ssh: { <name>: { privateKeyFile | privateKey, passphrase?, password? } }`", { file });
  }
  return r.data;
}

/** Credentials for a secret name; ConfigError (naming where it looked) when there are none. */
export function sshCredentials(name: string, opts: { file?: string; env?: NodeJS.ProcessEnv } = {}): SshCredentials {
  const file = opts.file ?? secretsFile();
  const env = opts.env ?? process.env;
  const prefix = envPrefix(name);
  const fromEnv = {
    privateKey: env[`${prefix}PRIVATE_KEY`],
    privateKeyFile: env[`${prefix}PRIVATE_KEY_FILE`],
    passphrase: env[`${prefix}PASSPHRASE`],
    password: env[`${prefix}PASSWORD`],
  };
  let entry: z.infer<typeof SshSecret> | undefined;
  let source: string;
  let base = process.cwd();
  if (Object.values(fromEnv).some((v) => v !== undefined)) {
    entry = Object.fromEntries(Object.entries(fromEnv).filter(([, v]) => v !== undefined));
    source = `environment ${prefix}*`;
  } else {
    entry = readSecretsFile(file)?.ssh[name];
    source = `secrets file ${file}, entry ${name}`;
    base = path.dirname(file);
  }
  if (!entry || (!entry.privateKey && !entry.privateKeyFile && entry.password === undefined)) {
    throw new ConfigError(
      `no SSH credentials named "${name}" (looked in ${prefix}PRIVATE_KEY[_FILE]/PASSWORD and in ${file})`,
      `add \`ssh: { ${name}: { privateKeyFile: /path/to/key } }\` to ${file} (mode 0600), or set ${prefix}PRIVATE_KEY_FILE; a machine picks its entry with ssh.credentials`,
      { file, field: "ssh.credentials", value: name },
    );
  }
  let privateKey: Buffer | undefined;
  if (entry.privateKey) privateKey = Buffer.from(entry.privateKey);
  else if (entry.privateKeyFile) {
    const keyFile = path.resolve(base, entry.privateKeyFile);
    try {
      privateKey = fs.readFileSync(keyFile);
    } catch (e) {
      throw new ConfigError(`private key file ${keyFile} (from ${source}) cannot be read: ${(e as NodeJS.ErrnoException).code ?? "error"}`, "point privateKeyFile at a readable key file", { file });
    }
  }
  return {
    ...(privateKey ? { privateKey } : {}),
    ...(entry.passphrase !== undefined ? { passphrase: entry.passphrase } : {}),
    ...(entry.password !== undefined ? { password: entry.password } : {}),
    source,
  };
}
