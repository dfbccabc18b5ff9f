// The lab's own apt signing key: the update server's Release is signed with it and lab
// machines trust it (signed-by), so apt on a lab machine verifies what it installs end to end
// instead of trusting an unsigned repository. One key per lab, kept in the state dir.
import { execFile } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { promisify } from "node:util";
import { LabError } from "../core/errors.ts";
import { stateDir } from "../core/paths.ts";

const run = promisify(execFile);

export interface LabKey {
  homedir: string;
  /** Binary (non-armored) public keyring, as apt's signed-by wants it. */
  publicKeyring: Buffer;
  fingerprint: string;
}

async function gpg(homedir: string, args: string[], input?: string): Promise<string> {
  try {
    const p = run("gpg", ["--homedir", homedir, "--batch", "--no-tty", "--pinentry-mode", "loopback", "--passphrase", "", ...args], { maxBuffer: 16 << 20 });
    if (input !== undefined) p.child.stdin!.end(input);
    return (await p).stdout;
  } catch (e) {
    const err = e as NodeJS.ErrnoException & { stderr?: string };
    if (err.code === "ENOENT") throw new LabError("dependency-missing", "gpg is not installed on the harness", "install it: `apt-get install gpg` (patchlab doctor --fix does)");
    throw new LabError("harness", `gpg ${args[0]} failed: ${(err.stderr ?? err.message).trim().slice(0, 400)}`, `look at ${homedir}; delete it to make a new lab key`);
  }
}

/** Stop the gpg-agent this homedir started (we start it; we end it). */
async function stopAgent(homedir: string): Promise<void> {
  await run("gpgconf", ["--homedir", homedir, "--kill", "gpg-agent"]).catch(() => undefined);
}

export async function labKey(lab: string): Promise<LabKey> {
  const homedir = path.join(stateDir(), "lab-keys", lab);
  fs.mkdirSync(homedir, { recursive: true, mode: 0o700 });
  fs.chmodSync(homedir, 0o700);
  const pub = path.join(homedir, "lab-updates.gpg");
  const fpr = path.join(homedir, "fingerprint");
  if (!fs.existsSync(pub) || !fs.existsSync(fpr)) {
    try {
      await gpg(homedir, ["--quick-generate-key", `patchlab lab ${lab} update server <updates@${lab}.patchlab.invalid>`, "ed25519", "sign", "never"]);
      const list = await gpg(homedir, ["--with-colons", "--list-secret-keys"]);
      const fp = /^fpr:+([0-9A-F]{40}):/m.exec(list)?.[1];
      if (!fp) throw new LabError("harness", "the new lab key has no fingerprint", `delete ${homedir} and retry`);
      const exported = await run("gpg", ["--homedir", homedir, "--batch", "--export", fp], { encoding: "buffer" });
      fs.writeFileSync(pub, exported.stdout);
      fs.writeFileSync(fpr, fp + "\n");
    } finally {
      await stopAgent(homedir);
    }
  }
  return { homedir, publicKeyring: fs.readFileSync(pub), fingerprint: fs.readFileSync(fpr, "utf8").trim() };
}

/** Clearsign text (a Release file) with the lab key: the InRelease apt verifies. */
export async function clearsign(key: LabKey, text: string): Promise<string> {
  try {
    return await gpg(key.homedir, ["--local-user", key.fingerprint, "--digest-algo", "SHA256", "--clearsign"], text);
  } finally {
    await stopAgent(key.homedir);
  }
}
