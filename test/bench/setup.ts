// The bench's own setup (not npm test's, not doctor's): Debian's `ansible` package for the
// Ansible runner, whose collections include community.docker (the docker connection plugin).
import { execFileSync, spawnSync } from "node:child_process";
import fs from "node:fs";

const PLUGIN = "/usr/lib/python3/dist-packages/ansible_collections/community/docker/plugins/connection/docker.py";

/** Installs ansible with apt when missing; returns why the Ansible runner cannot run, or undefined. */
export function ensureAnsible(): string | undefined {
  const has = () => spawnSync("ansible-playbook", ["--version"], { stdio: "ignore" }).status === 0;
  if (!has()) {
    console.log("[bench] installing Debian's ansible package (apt-get) for the Ansible runner");
    try {
      const env = { ...process.env, DEBIAN_FRONTEND: "noninteractive" };
      execFileSync("apt-get", ["update", "-qq"], { stdio: "inherit", env });
      execFileSync("apt-get", ["install", "-y", "-qq", "--no-install-recommends", "ansible"], { stdio: "inherit", env });
    } catch (e) {
      return `could not install Debian's ansible package: ${(e as Error).message.split("\n")[0]}`;
    }
    if (!has()) return "ansible-playbook is still missing after installing Debian's ansible package";
  }
  if (!fs.existsSync(PLUGIN)) return `Debian's ansible has no community.docker.docker connection plugin (${PLUGIN})`;
  return undefined;
}
