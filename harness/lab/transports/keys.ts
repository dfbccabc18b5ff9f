// SSH key pairs the harness makes for itself (the vm driver's login key).
import fs from "node:fs";
import path from "node:path";
import ssh2 from "ssh2";

const { utils } = ssh2;

export interface KeyPair {
  privateKey: string;
  /** authorized_keys line: `ssh-ed25519 AAAA... comment`. */
  publicKey: string;
}

/** A fresh ed25519 pair in OpenSSH format (regenerated until ssh2 itself can parse it back). */
export function generateKeyPair(comment = "patchlab"): KeyPair {
  for (let i = 0; i < 10; i++) {
    const k = utils.generateKeyPairSync("ed25519", { comment });
    if (!(utils.parseKey(k.private) instanceof Error)) return { privateKey: k.private, publicKey: k.public };
  }
  throw new Error("could not generate a usable ed25519 key pair");
}

/** authorized_keys line of a private key. */
export function publicLineOf(privateKey: string, comment = "patchlab"): string {
  const k = utils.parseKey(privateKey);
  if (k instanceof Error) throw k;
  const parsed = Array.isArray(k) ? k[0]! : k;
  return `${parsed.type} ${parsed.getPublicSSH().toString("base64")} ${comment}`;
}

/** The key stored at `file`, made on first use with mode 0600 (one file: nothing to mismatch). */
export function harnessKey(file: string): KeyPair {
  try {
    const privateKey = fs.readFileSync(file, "utf8");
    return { privateKey, publicKey: publicLineOf(privateKey) };
  } catch { /* make one */ }
  const k = generateKeyPair();
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const tmp = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, k.privateKey, { mode: 0o600 });
  // Two processes may race: the last rename wins and both read the winner back.
  fs.renameSync(tmp, file);
  const privateKey = fs.readFileSync(file, "utf8");
  return { privateKey, publicKey: publicLineOf(privateKey) };
}
