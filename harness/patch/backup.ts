// Uninstall backups of Debian packages: before a patch upgrades an installed package, the
// installed version is put back together as a .deb (dpkg-repack, run on the harness against a
// copy of the package's files and of the machine's dpkg database), so uninstall can downgrade
// to exactly the pre-patch version. Nothing is installed on the machine for this: production
// servers have no dpkg-repack, and a lab machine should look like them.
import { createHash } from "node:crypto";
import { execFile } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { promisify } from "node:util";
import { LabError } from "../core/errors.ts";
import { shq } from "../lab/roles/common.ts";
import type { Connection } from "../lab/types.ts";
import { query, REMOTE_DIR, runStep, lastLines, type StepRun } from "./exec.ts";

const run = promisify(execFile);

export interface PackageBackup {
  package: string;
  version: string;
  architecture: string;
  /** The repacked .deb on the harness. */
  debFile: string;
  bytes: number;
  sha256: string;
}

/** Files of the dpkg database dpkg-query needs to answer for one package. */
const DB_FILES = ["info/format", "status", "arch", "diversions", "statoverride"].map((f) => `/var/lib/dpkg/${f}`);

/** The shell script that gathers a package's files and its dpkg records into one tar on the machine. */
export function gatherScript(pkg: string, tarFile: string): string {
  const p = shq(pkg);
  return [
    "set -e",
    `A=$(dpkg-query -W -f='\${Architecture}' ${p})`,
    `L=${shq(tarFile + ".list")}`,
    "{",
    `  dpkg-query --control-path ${p}`,
    `  for n in ${p} ${p}:"$A"; do for e in list conffiles; do if [ -e "/var/lib/dpkg/info/$n.$e" ]; then echo "/var/lib/dpkg/info/$n.$e"; fi; done; done`,
    `  for f in ${DB_FILES.join(" ")}; do if [ -e "$f" ]; then echo "$f"; fi; done`,
    // Paths, and where diverted ones really are; `tar --ignore-failed-read` skips files gone missing.
    `  LC_ALL=C dpkg-query -L ${p} | sed -n -e 's#^\\(/.*\\)$#\\1#p' -e 's#^.*diverted .*to: \\(/.*\\)$#\\1#p'`,
    "} > \"$L\"",
    `tar -cf ${shq(tarFile)} --no-recursion --ignore-failed-read -T "$L" 2>/dev/null || [ $? -eq 1 ]`,
    'rm -f "$L"',
  ].join("\n");
}

/**
 * Repack the version of `pkg` installed on the machine into a .deb under `workDir`. Throws a
 * LabError when that is not possible (the harness's problem, not the patch's).
 */
export async function backupInstalled(conn: Connection, pkg: string, workDir: string, timeoutMs = 300_000): Promise<PackageBackup> {
  if (!fs.existsSync("/usr/bin/dpkg-repack")) {
    throw new LabError("dependency-missing", "dpkg-repack is not installed on the harness (it keeps uninstall backups of upgraded packages)", "run `patchlab doctor --fix`, or `apt-get install dpkg-repack`");
  }
  const st = await query(conn, ["dpkg-query", "-W", "-f=${db:Status-Abbrev}|${Version}|${Architecture}", pkg]);
  const [status = "", version = "", architecture = ""] = st.stdout.split("|").map((s) => s.trim());
  if (st.exitCode !== 0 || status !== "ii") {
    throw new LabError("harness", `cannot back up ${pkg} on ${conn.machine}: it is not installed ("${status}")`, "back up only installed packages (this is a patchlab bug)", { machine: conn.machine });
  }
  const tarFile = `${REMOTE_DIR}/backup-${pkg}.tar`;
  const g = await runStep(conn, `mkdir -p ${REMOTE_DIR} && ${gatherScript(pkg, tarFile)}`, { timeoutMs });
  let tar: Buffer;
  try {
    if (g.exitCode !== 0) throw backupError(conn, pkg, `gathering its files failed (exit ${g.exitCode}): ${lastLines(g.output)}`);
    tar = await conn.download(tarFile);
  } finally {
    await conn.exec(["rm", "-f", tarFile]).catch(() => undefined);
  }
  fs.mkdirSync(workDir, { recursive: true });
  const scratch = fs.mkdtempSync(path.join(workDir, `repack-${pkg}-`));
  try {
    const root = path.join(scratch, "root");
    const out = path.join(scratch, "out");
    fs.mkdirSync(root);
    fs.mkdirSync(out);
    fs.writeFileSync(path.join(scratch, "files.tar"), tar);
    // Owners must survive the round trip: as root directly, otherwise in one fakeroot session.
    // --tag=none: the control data stays byte for byte what dpkg recorded.
    const script = `tar -xpf ${shq(path.join(scratch, "files.tar"))} -C ${shq(root)} --same-owner --numeric-owner && cd ${shq(out)} && dpkg-repack --root=${shq(root)} --tag=none ${shq(pkg)}`;
    const argv = process.getuid?.() === 0 ? ["sh", ["-c", script]] as const : ["fakeroot", ["--", "sh", "-c", script]] as const;
    try {
      await run(argv[0], [...argv[1]], { maxBuffer: 16 << 20, timeout: timeoutMs });
    } catch (e) {
      const err = e as NodeJS.ErrnoException & { stderr?: string };
      if (err.code === "ENOENT") {
        throw new LabError("dependency-missing", "fakeroot is not installed on the harness (needed to repack packages when not root)", "run patchlab as root, or `apt-get install fakeroot`");
      }
      throw backupError(conn, pkg, `dpkg-repack failed: ${lastLines(err.stderr ?? err.message, 3)}`);
    }
    const built = fs.readdirSync(out).filter((f) => f.endsWith(".deb"));
    if (built.length !== 1) throw backupError(conn, pkg, `dpkg-repack produced ${built.length} packages`);
    const fields = (await run("dpkg-deb", ["-f", path.join(out, built[0]!), "Package", "Version"])).stdout;
    const gotVersion = /^Version: (.+)$/m.exec(fields)?.[1]?.trim();
    if (gotVersion !== version) throw backupError(conn, pkg, `the repacked package says version ${gotVersion}, not the installed ${version}`);
    const debFile = path.join(workDir, `${conn.machine}-${built[0]}`);
    fs.renameSync(path.join(out, built[0]!), debFile);
    const bytes = fs.statSync(debFile).size;
    const sha256 = createHash("sha256").update(fs.readFileSync(debFile)).digest("hex");
    return { package: pkg, version, architecture, debFile, bytes, sha256 };
  } finally {
    fs.rmSync(scratch, { recursive: true, force: true });
  }
}

/** Install the kept pre-patch version again (a downgrade), unattended, within the step timeout. */
export async function restoreBackup(conn: Connection, b: PackageBackup, timeoutMs: number): Promise<StepRun> {
  const remote = `${REMOTE_DIR}/${path.basename(b.debFile)}`;
  await conn.upload([{ path: remote, content: fs.readFileSync(b.debFile) }]);
  try {
    return await runStep(conn, `dpkg --force-confold -i ${shq(remote)}`, { timeoutMs });
  } finally {
    await conn.exec(["rm", "-f", remote]).catch(() => undefined);
  }
}

function backupError(conn: Connection, pkg: string, why: string): LabError {
  return new LabError("harness", `uninstall backup of ${pkg} on ${conn.machine}: ${why}`, "see the machine's log; the patch can still be verified, but its uninstall will need review", { machine: conn.machine });
}
