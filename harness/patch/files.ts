// The `files` PatchProvisioner: replace files on a machine, keep the originals (with their
// owner, mode and times) in /var/backups/patchlab/<patch>, put them back on uninstall. Files
// are replaced the way dpkg does it (write beside, rename over), so a process still mapping an
// old binary or library shows up in restart detection.
import type { Patch } from "../config/schemas.ts";
import { ConfigError, PatchError } from "../core/errors.ts";
import { shq } from "../lab/roles/common.ts";
import type { Connection } from "../lab/types.ts";
import { lastLines, query, runStep } from "./exec.ts";
import { collectPayload, removeStaging, uploadPayload } from "./payload.ts";
import type { FilesSpec } from "./schemas.ts";
import type { PatchArtifact, PatchProvisioner, StepOutcome } from "./types.ts";

export const BACKUP_ROOT = "/var/backups/patchlab";
/** Exit code of the uninstall script when no originals were kept. */
const NO_BACKUP = 3;

export function prepareFiles(patch: Patch, manifestFile: string): PatchArtifact {
  if (patch.kind !== "files") {
    throw new ConfigError(`${manifestFile}: patch ${patch.id} is of kind ${patch.kind}, not files`, "prepare it with its own kind's provisioner");
  }
  const files = patch.files.replace.map((r, i) => {
    const [f] = collectPayload(manifestFile, [r.source], `files.replace[${i}].source`);
    if (!f || f.rel !== r.source) {
      throw new ConfigError(`${manifestFile}: files.replace[${i}].source: ${r.source} is a folder`, "name one file per replacement", { file: manifestFile, field: `files.replace[${i}].source`, value: r.source });
    }
    return f;
  });
  const version = patch.files.version;
  return {
    patch,
    manifestFile,
    debFile: "",
    package: patch.id,
    version,
    files,
    payload: patch.files.replace.map((r, i) => ({ package: `${patch.id}:${r.target}`, version, sha256: files[i]!.sha256 })),
  };
}

function specOf(a: PatchArtifact): FilesSpec {
  if (a.patch.kind !== "files") throw new PatchError(a.patch.id, "install", `patch ${a.patch.id} is not a files patch`, "this is a patchlab bug: wrong provisioner");
  return a.patch.files;
}

/** The install script: keep the originals once (a re-install must not back up its own files), then place the new ones. */
export function installScript(id: string, spec: FilesSpec, staging: string, keepOriginals: boolean): string {
  const B = shq(`${BACKUP_ROOT}/${id}`);
  const lines = [
    "set -e",
    `B=${B}`,
    // place SRC TARGET MODE OWNER GROUP: defaults are the original's attributes, or 0644 root:root.
    'place() { if [ -e "$2" ]; then m=${3:-$(stat -c %a "$2")}; o=${4:-$(stat -c %U "$2")}; g=${5:-$(stat -c %G "$2")}; else m=${3:-0644}; o=${4:-root}; g=${5:-root}; fi',
    '  mkdir -p "$(dirname "$2")"; cp "$1" "$2.patchlab-new"; chown "$o:$g" "$2.patchlab-new"; chmod "$m" "$2.patchlab-new"; mv -f "$2.patchlab-new" "$2"; }',
  ];
  if (keepOriginals) {
    lines.push('if [ ! -e "$B/.complete" ]; then', '  rm -rf "$B"; mkdir -p "$B/orig"; : > "$B/absent"; : > "$B/dirs"');
    for (const r of spec.replace) {
      const t = shq(r.target);
      lines.push(
        `  if [ -e ${t} ] || [ -L ${t} ]; then mkdir -p "$B/orig$(dirname ${t})"; cp -a ${t} "$B/orig"${t};`,
        `  else echo ${t} >> "$B/absent"; d=$(dirname ${t}); while [ ! -d "$d" ]; do echo "$d" >> "$B/dirs"; d=$(dirname "$d"); done; fi`,
      );
    }
    lines.push('  touch "$B/.complete"', "fi");
  }
  for (const r of spec.replace) {
    lines.push(`place ${shq(`${staging}/${r.source}`)} ${shq(r.target)} ${shq(r.mode ?? "")} ${shq(r.owner ?? "")} ${shq(r.group ?? "")}`);
  }
  return lines.join("\n");
}

/** The uninstall script: originals back (owner, mode, times), created files and folders gone, backup removed. */
export function uninstallScript(id: string, spec: FilesSpec): string {
  const lines = ["set -e", `B=${shq(`${BACKUP_ROOT}/${id}`)}`, `[ -e "$B/.complete" ] || { echo "no backup of the originals in $B"; exit ${NO_BACKUP}; }`];
  for (const r of spec.replace) {
    const t = shq(r.target);
    lines.push(`if grep -qxF ${t} "$B/absent"; then rm -f ${t}; else cp -a "$B/orig"${t} ${shq(`${r.target}.patchlab-orig`)}; mv -f ${shq(`${r.target}.patchlab-orig`)} ${t}; fi`);
  }
  lines.push('sort -r "$B/dirs" | while read -r d; do rmdir "$d" 2>/dev/null || true; done', 'rm -rf "$B"', `rmdir ${BACKUP_ROOT} 2>/dev/null || true`);
  return lines.join("\n");
}

export interface FilesProvisionerOptions {
  stepTimeoutMs?: number;
  uninstallBackup?: boolean;
}

export class FilesProvisioner implements PatchProvisioner {
  constructor(private readonly opts: FilesProvisionerOptions = {}) {}

  private resolved(a: PatchArtifact) {
    const spec = specOf(a);
    const o = a.patch.kind === "files" ? a.patch.options : undefined;
    return {
      spec,
      keepOriginals: o?.uninstallBackup ?? this.opts.uninstallBackup ?? true,
      timeoutMs: spec.timeoutSeconds ? spec.timeoutSeconds * 1000 : (this.opts.stepTimeoutMs ?? 600_000),
    };
  }

  async isInstalled(conn: Connection, a: PatchArtifact): Promise<boolean> {
    const spec = specOf(a);
    const r = await query(conn, ["sh", "-c", `sha256sum -- ${spec.replace.map((x) => shq(x.target)).join(" ")} 2>/dev/null; true`]);
    const have = new Map<string, string>();
    for (const line of r.stdout.split("\n")) {
      const m = /^([0-9a-f]{64}) [ *](.+)$/.exec(line);
      if (m) have.set(m[2]!, m[1]!);
    }
    return spec.replace.every((x, i) => have.get(x.target) === a.files?.[i]?.sha256);
  }

  async install(conn: Connection, a: PatchArtifact): Promise<StepOutcome> {
    const { spec, keepOriginals, timeoutMs } = this.resolved(a);
    const started = Date.now();
    const staging = await uploadPayload(conn, a.patch.id, a.files ?? []);
    let r;
    try {
      r = await runStep(conn, installScript(a.patch.id, spec, staging, keepOriginals), { timeoutMs });
    } finally {
      await removeStaging(conn, a.patch.id);
    }
    const done = (o: Omit<StepOutcome, "durationMs">): StepOutcome => ({ ...o, durationMs: Date.now() - started });
    if (r.timedOut) return done({ ok: false, blame: "patch", timedOut: true, exitCode: r.exitCode, output: r.output, message: `install timed out: placing ${spec.replace.length} file(s) took over ${Math.round(timeoutMs / 1000)} s` });
    // Placing files is the harness's own script: its failure (no space, read-only target) is not the patch's verdict.
    if (r.exitCode !== 0) return done({ ok: false, blame: "harness", exitCode: r.exitCode, output: r.output, message: `could not place the files of ${a.patch.id} (exit ${r.exitCode}): ${lastLines(r.output)}` });
    let output = r.output;
    if (spec.afterInstall) {
      const h = await runStep(conn, spec.afterInstall, { timeoutMs });
      output = [output, h.output].filter(Boolean).join("\n");
      if (h.timedOut) return done({ ok: false, blame: "patch", timedOut: true, exitCode: h.exitCode, output, message: `install timed out: afterInstall \`${spec.afterInstall}\` killed after ${Math.round(timeoutMs / 1000)} s` });
      if (h.exitCode !== 0) return done({ ok: false, exitCode: h.exitCode, output, message: `files placed but afterInstall \`${spec.afterInstall}\` exited ${h.exitCode}: ${lastLines(h.output)}` });
    }
    if (!(await this.isInstalled(conn, a))) return done({ ok: false, exitCode: 0, output, message: `after install the targets of ${a.patch.id} do not hold the patch's files` });
    const bytes = keepOriginals ? Number((await query(conn, ["sh", "-c", `du -sb ${shq(`${BACKUP_ROOT}/${a.patch.id}`)} | cut -f1`])).stdout.trim()) : undefined;
    return done({
      ok: true,
      exitCode: 0,
      output,
      ...(bytes !== undefined && Number.isFinite(bytes) ? { backupBytes: bytes } : {}),
      message: `${spec.replace.length} file(s) of ${a.patch.id} ${a.version} in place; ${keepOriginals ? `originals kept in ${BACKUP_ROOT}/${a.patch.id}` : "no uninstall backup (uninstallBackup: false)"}`,
    });
  }

  async uninstall(conn: Connection, a: PatchArtifact): Promise<StepOutcome> {
    const { spec, keepOriginals, timeoutMs } = this.resolved(a);
    const started = Date.now();
    const done = (o: Omit<StepOutcome, "durationMs">): StepOutcome => ({ ...o, durationMs: Date.now() - started });
    if (!keepOriginals) {
      return done({ ok: false, blame: "harness", output: "", message: `not possible: no backup: ${a.patch.id} replaced its files without keeping the originals (uninstallBackup: false); needs review` });
    }
    const r = await runStep(conn, uninstallScript(a.patch.id, spec), { timeoutMs });
    if (r.exitCode === NO_BACKUP) return done({ ok: false, blame: "harness", exitCode: r.exitCode, output: r.output, message: `not possible: no backup: ${r.output}` });
    if (r.timedOut || r.exitCode !== 0) return done({ ok: false, blame: "harness", exitCode: r.exitCode, output: r.output, message: `could not put the originals of ${a.patch.id} back (exit ${r.exitCode}): ${lastLines(r.output)}` });
    let output = r.output;
    if (spec.afterUninstall) {
      const h = await runStep(conn, spec.afterUninstall, { timeoutMs });
      output = [output, h.output].filter(Boolean).join("\n");
      if (h.timedOut) return done({ ok: false, blame: "patch", timedOut: true, exitCode: h.exitCode, output, message: `uninstall timed out: afterUninstall \`${spec.afterUninstall}\` killed after ${Math.round(timeoutMs / 1000)} s` });
      if (h.exitCode !== 0) return done({ ok: false, exitCode: h.exitCode, output, message: `originals back but afterUninstall \`${spec.afterUninstall}\` exited ${h.exitCode}: ${lastLines(h.output)}` });
    }
    if (await this.isInstalled(conn, a)) return done({ ok: false, exitCode: 0, output, message: `after uninstall the targets of ${a.patch.id} still hold the patch's files` });
    return done({ ok: true, exitCode: 0, output, message: `originals of ${spec.replace.length} file(s) put back; ${a.patch.id} uninstalled` });
  }
}
