// The lab's SSH keys, made once per lab by the harness and kept under
// <stateDir>/ssh/<lab>/: the lab user's key pair (the private half lives on the client
// machines, the public half in ssh machines' authorized_keys) and one host key per ssh
// machine (installed on it and written into the clients' known_hosts). Made here rather than
// on the machines, so provisioning a client and an ssh machine in parallel needs no order.
import { randomBytes } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import ssh2 from "ssh2";
import { stateDir } from "../../core/paths.ts";

export interface SshKeyPair {
  /** OpenSSH private key (PEM "OPENSSH PRIVATE KEY"). */
  private: string;
  /** "ssh-ed25519 AAAA... comment" */
  public: string;
}

export interface LabSshKeys {
  /** The lab user's key. */
  user: SshKeyPair;
  /** The host key of an ssh machine. */
  host(machine: string): SshKeyPair;
}

/** Reads a key pair from `dir/<name>{,.pub}`, generating it first when absent (atomic against a concurrent writer). */
function keyPair(dir: string, name: string, comment: string): SshKeyPair {
  const priv = path.join(dir, name);
  const pub = `${priv}.pub`;
  if (!fs.existsSync(pub)) {
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
    const k = ssh2.utils.generateKeyPairSync("ed25519", { comment });
    const tmp = `${priv}.tmp-${process.pid}-${randomBytes(4).toString("hex")}`;
    fs.writeFileSync(tmp, k.private, { mode: 0o600 });
    fs.writeFileSync(`${tmp}.pub`, `${k.public.trim()}\n`, { mode: 0o644 });
    try {
      // The private key is linked first and the public one last: a reader waits on .pub.
      fs.linkSync(tmp, priv);
      fs.linkSync(`${tmp}.pub`, pub);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e;
      // Another process made it first: theirs is as good as ours.
    } finally {
      fs.rmSync(tmp, { force: true });
      fs.rmSync(`${tmp}.pub`, { force: true });
    }
  }
  return { private: fs.readFileSync(priv, "utf8"), public: fs.readFileSync(pub, "utf8").trim() };
}

export function labSshKeys(lab: string, root = stateDir()): LabSshKeys {
  const dir = path.join(root, "ssh", lab);
  return {
    user: keyPair(dir, "labuser_ed25519", `labuser@${lab}`),
    host: (machine) => keyPair(path.join(dir, "hosts"), `${machine}_ed25519`, `root@${machine}`),
  };
}

/** A known_hosts line for a machine: its FQDN, short name and address. */
export function knownHostsLine(names: string[], hostPublicKey: string): string {
  const [type, blob] = hostPublicKey.split(/\s+/);
  return `${names.join(",")} ${type} ${blob}`;
}
