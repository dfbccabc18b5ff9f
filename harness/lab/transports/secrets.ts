// SSH credentials for ssh-driver machines: the `machines:` section of the lab secrets file
// (harness/core/secrets.ts: $PATCHLAB_SECRETS_FILE, default <state>/secrets.yaml, mode 0600)
// or the environment, which wins. A machine names its entry with `ssh.credentials` (default:
// its own name). Values are never logged nor put in error messages (errors name the file,
// the entry and the variables), and every value found is registered for redaction.
//
//   machines:
//     legacy-web:
//       privateKeyFile: /root/.ssh/lab_ed25519   # or privateKey: | -----BEGIN OPENSSH...
//       passphrase: ...                          # optional
//       password: ...                            # when the server takes passwords
//
//   PATCHLAB_SECRET_MACHINE_LEGACY_WEB_PRIVATE_KEY / _PRIVATE_KEY_FILE / _PASSPHRASE / _PASSWORD
import fs from "node:fs";
import path from "node:path";
import { parse as parseYaml } from "yaml";
import { z } from "zod";
import { ConfigError } from "../../core/errors.ts";
import { registerSecret, secretsFile } from "../../core/redact.ts";
import { MachineCredential } from "../../core/secrets.ts";

export interface SshCredentials {
  privateKey?: Buffer;
  passphrase?: string;
  password?: string;
  /** Where the credentials came from, for messages: "secrets file X, entry y" or "environment PATCHLAB_SECRET_MACHINE_Y_*". */
  source: string;
}

export { secretsFile };

export function envPrefix(name: string): string {
  return `PATCHLAB_SECRET_MACHINE_${name.toUpperCase().replace(/[^A-Z0-9]/g, "_")}_`;
}

/** The `machines:` section of the secrets file (the rest of it belongs to the lab's roles). */
function machinesSection(file: string): Record<string, z.infer<typeof MachineCredential>> | undefined {
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
  const raw = (data as { machines?: unknown } | null)?.machines;
  if (raw === undefined) return undefined;
  const r = z.record(z.string(), MachineCredential).safeParse(raw);
  if (!r.success) {
    const where = r.error.issues.map((i) => ["machines", ...i.path].join(".")).join(", ");
    throw new ConfigError(`secrets file ${file} has unexpected content at ${where}`, "write `machines: { <name>: { privateKeyFile | privateKey, passphrase?, password? } }`", { file });
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
  let entry: z.infer<typeof MachineCredential> | undefined;
  let source: string;
  let base = process.cwd();
  if (Object.values(fromEnv).some((v) => v !== undefined)) {
    entry = Object.fromEntries(Object.entries(fromEnv).filter(([, v]) => v !== undefined));
    source = `environment ${prefix}*`;
  } else {
    entry = machinesSection(file)?.[name];
    source = `secrets file ${file}, entry machines.${name}`;
    base = path.dirname(file);
  }
  if (!entry || (!entry.privateKey && !entry.privateKeyFile && entry.password === undefined)) {
    throw new ConfigError(
      `no SSH credentials named "${name}" (looked in ${prefix}PRIVATE_KEY[_FILE]/PASSWORD and in ${file}, section machines)`,
      `add \`machines: { ${name}: { privateKeyFile: /path/to/key } }\` to ${file} (mode 0600), or set ${prefix}PRIVATE_KEY_FILE; a machine picks its entry with ssh.credentials`,
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
  // Whatever reaches the harness is redacted from everything it writes.
  if (privateKey) registerSecret(privateKey.toString("utf8").trim(), `machines.${name}.privateKey`);
  if (entry.passphrase) registerSecret(entry.passphrase, `machines.${name}.passphrase`);
  if (entry.password) registerSecret(entry.password, `machines.${name}.password`);
  return {
    ...(privateKey ? { privateKey } : {}),
    ...(entry.passphrase !== undefined ? { passphrase: entry.passphrase } : {}),
    ...(entry.password !== undefined ? { password: entry.password } : {}),
    source,
  };
}
