// The `script` PatchProvisioner: the shape of any vendor installer. Install, uninstall and
// detect commands, a payload uploaded next to them, the vendor's spelling of the hotfix
// options (quiet, no restart, no backup) and of its exit codes.
import type { Patch } from "../config/schemas.ts";
import { ConfigError, PatchError } from "../core/errors.ts";
import type { Connection } from "../lab/types.ts";
import { lastLines, query, runStep } from "./exec.ts";
import { collectPayload, removeStaging, uploadPayload } from "./payload.ts";
import type { ScriptSpec } from "./schemas.ts";
import type { PatchArtifact, PatchProvisioner, StepOutcome } from "./types.ts";

/** Read and hash the payload; nothing touches the lab here, so bad input changes nothing. */
export function prepareScript(patch: Patch, manifestFile: string): PatchArtifact {
  if (patch.kind !== "script") {
    throw new ConfigError(`${manifestFile}: patch ${patch.id} is of kind ${patch.kind}, not script`, "prepare it with its own kind's provisioner");
  }
  const files = collectPayload(manifestFile, patch.script.payload, "script.payload");
  const version = patch.script.version;
  return {
    patch,
    manifestFile,
    debFile: "",
    package: patch.id,
    version,
    files,
    payload: files.length ? files.map((f) => ({ package: `${patch.id}/${f.rel}`, version, sha256: f.sha256 })) : [{ package: patch.id, version }],
  };
}

export interface ScriptProvisionerOptions {
  stepTimeoutMs?: number;
  deferRestart?: boolean;
  uninstallBackup?: boolean;
}

function specOf(a: PatchArtifact): ScriptSpec {
  if (a.patch.kind !== "script") throw new PatchError(a.patch.id, "install", `patch ${a.patch.id} is not a script patch`, "this is a patchlab bug: wrong provisioner");
  return a.patch.script;
}

export class ScriptProvisioner implements PatchProvisioner {
  constructor(private readonly opts: ScriptProvisionerOptions = {}) {}

  private resolved(a: PatchArtifact) {
    const spec = specOf(a);
    const o = a.patch.kind === "script" ? a.patch.options : undefined;
    const deferRestart = o?.deferRestart ?? this.opts.deferRestart ?? false;
    const uninstallBackup = o?.uninstallBackup ?? this.opts.uninstallBackup ?? true;
    // The vendor's own spelling of each option, appended when it applies. Quiet always: nobody answers prompts in a lab.
    const flags = [spec.flags.quiet, deferRestart ? spec.flags.noRestart : undefined, uninstallBackup ? undefined : spec.flags.noBackup].filter(Boolean).join(" ");
    const timeoutMs = spec.timeoutSeconds ? spec.timeoutSeconds * 1000 : (this.opts.stepTimeoutMs ?? 600_000);
    return { spec, flags, uninstallBackup, timeoutMs };
  }

  async isInstalled(conn: Connection, a: PatchArtifact): Promise<boolean> {
    const { spec } = this.resolved(a);
    // Detection runs in / without the payload: `patchlab installed` must not need to upload anything.
    const r = await query(conn, ["sh", "-c", `cd / && ${spec.detect}`]);
    if (r.exitCode === 0) return true;
    if (r.exitCode === 1) return false;
    throw new PatchError(a.patch.id, "verify", `detect command of ${a.patch.id} on ${conn.machine} exited ${r.exitCode} (0 = installed, 1 = not installed): ${lastLines(r.stdout + r.stderr)}`, "fix the manifest's script.detect", { machine: conn.machine, output: r.stdout + r.stderr });
  }

  async install(conn: Connection, a: PatchArtifact): Promise<StepOutcome> {
    const { spec, flags, timeoutMs } = this.resolved(a);
    return this.step(conn, a, "install", `${spec.install}${flags ? ` ${flags}` : ""}`, timeoutMs, true);
  }

  async uninstall(conn: Connection, a: PatchArtifact): Promise<StepOutcome> {
    const { spec, flags, uninstallBackup, timeoutMs } = this.resolved(a);
    if (!spec.uninstall) {
      return { ok: false, blame: "harness", message: `not possible: ${a.patch.id} has no uninstall command (script.uninstall); needs review`, output: "", durationMs: 0 };
    }
    if (!uninstallBackup) {
      return { ok: false, blame: "harness", message: `not possible: no backup: ${a.patch.id} was installed without an uninstall backup (uninstallBackup: false); needs review`, output: "", durationMs: 0 };
    }
    return this.step(conn, a, "uninstall", `${spec.uninstall}${flags ? ` ${flags}` : ""}`, timeoutMs, false);
  }

  private async step(conn: Connection, a: PatchArtifact, step: "install" | "uninstall", command: string, timeoutMs: number, wantInstalled: boolean): Promise<StepOutcome> {
    const spec = specOf(a);
    const started = Date.now();
    const dir = await uploadPayload(conn, a.patch.id, a.files ?? []);
    let r;
    try {
      r = await runStep(conn, command, { timeoutMs, cwd: dir });
    } finally {
      await removeStaging(conn, a.patch.id);
    }
    const base = { output: r.output, exitCode: r.exitCode };
    const done = (o: Omit<StepOutcome, "durationMs" | "output" | "exitCode">): StepOutcome => ({ ...base, ...o, durationMs: Date.now() - started });
    if (r.timedOut) {
      return done({ ok: false, blame: "patch", timedOut: true, message: `${step} timed out: \`${command}\` was still running after ${Math.round(timeoutMs / 1000)} s and was killed: ${lastLines(r.output)}` });
    }
    const restartRequired = step === "install" && spec.exitCodes.restartRequired.includes(r.exitCode);
    if (!spec.exitCodes.success.includes(r.exitCode) && !restartRequired) {
      return done({ ok: false, message: `${step} of ${a.patch.id}: \`${command}\` exited ${r.exitCode}: ${lastLines(r.output)}` });
    }
    // The installer's word is not enough: detection must agree.
    const installed = await this.isInstalled(conn, a);
    if (installed !== wantInstalled) {
      return done({ ok: false, message: `${step} of ${a.patch.id} exited ${r.exitCode} but detection says ${installed ? "still installed" : "not installed"} (\`${spec.detect}\`)` });
    }
    return done({
      ok: true,
      ...(restartRequired ? { restartRequired } : {}),
      message: `${a.patch.id} ${a.version} ${step === "install" ? "installed" : "uninstalled"} (exit ${r.exitCode}${restartRequired ? ": restart required" : ""}); detection agrees`,
    });
  }
}
