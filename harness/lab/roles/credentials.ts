// Every credential the lab's services use, in one place, read from the lab's secrets
// (harness/core/secrets.ts: the secrets file, PATCHLAB_SECRET_* on top, random values made
// once and kept in the state dir). Read when used, never at import. Provisioning sets the
// passwords in the running machines (the images are built with a throw-away one); readiness
// probes and suites log in with them, passing them to tools through the environment
// (PGPASSWORD, PASSWD...), never on a command line or in a message.
import { ConfigError } from "../../core/errors.ts";
import { DEFAULT_USERS } from "../../core/redact.ts";
import { labSecrets, secretsFile, type Secrets } from "../../core/secrets.ts";

/** The user of a section: the one the image was built with (provisioning sets passwords, it does not make users). */
function user(section: "db" | "file" | "wiki"): string {
  const u = labSecrets()[section].user;
  if (u !== DEFAULT_USERS[section]) {
    throw new ConfigError(
      `lab secrets: ${section}.user is ${u}, but the lab's ${section} machines have the user ${DEFAULT_USERS[section]} only`,
      `set ${section}.user to ${DEFAULT_USERS[section]} in ${secretsFile()} (or unset PATCHLAB_SECRET_${section.toUpperCase()}_USER); only the password is the lab's to choose`,
      { file: secretsFile(), field: `${section}.user`, value: u },
    );
  }
  return u;
}

const pw = (section: keyof Pick<Secrets, "db" | "file" | "wiki">) => labSecrets()[section].password;

/** PostgreSQL on db machines: the sample database and the role clients log in as. */
export const DB = {
  database: "inventory",
  get user() {
    return user("db");
  },
  get password() {
    return pw("db");
  },
} as const;

/** Samba on file machines: the share and the user that owns it. */
export const SMB = {
  share: "shared",
  get user() {
    return user("file");
  },
  get password() {
    return pw("file");
  },
} as const;

/** DokuWiki on app machines: the wiki's superuser. */
export const WIKI = {
  get user() {
    return user("wiki");
  },
  get password() {
    return pw("wiki");
  },
} as const;

/** sshd on ssh machines: the account the client's key logs in to (no password). */
export const SSH = { user: "labuser" } as const;
