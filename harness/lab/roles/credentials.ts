// Every secret the lab's services are set up with, in one place: the image recipes bake the
// same values in, role readiness probes and suites log in with them. Suites pass them to
// tools through the environment (PGPASSWORD, PASSWD...) and never put them in a message, so
// moving them to a secrets file later changes this module only.

/** PostgreSQL on db machines: the sample database and the role clients log in as. */
export const DB = { database: "inventory", user: "labuser", password: "labpass" } as const;

/** Samba on file machines: the share and the user that owns it. */
export const SMB = { share: "shared", user: "labuser", password: "labpass" } as const;

/** DokuWiki on app machines: the wiki's superuser. */
export const WIKI = { user: "labadmin", password: "labpass" } as const;

/** sshd on ssh machines: the account the client's key logs in to (no password). */
export const SSH = { user: "labuser" } as const;
