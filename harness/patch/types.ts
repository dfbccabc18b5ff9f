// The patch contracts every kind of patch (deb, apt, script, files) implements: what a patch
// is once prepared for shipping, and what installing or removing it on a machine reports.
import type { Patch } from "../config/schemas.ts";
import type { Connection } from "../lab/types.ts";

/** One package (or file set) of a patch, exactly as installed: what a promotion must match. */
export interface PayloadItem {
  package: string;
  version: string;
  /** sha256 of the .deb (or payload file) when the harness holds it. */
  sha256?: string;
}

/** apt kind: one binary package of the update as the signed index has it, and where to get it. */
export interface AptArtifactPackage {
  name: string;
  version: string;
  architecture: string;
  sha256: string;
  /** The package's stanza from the signed Packages index (written as is into the update server's index). */
  stanza: Record<string, string>;
  /** Archive URL the .deb is downloaded from (verified against sha256 before any use). */
  url: string;
}

/** A patch ready to ship: its manifest plus what it installs. */
export interface PatchArtifact {
  patch: Patch;
  manifestFile: string;
  /** The exact identity of what is installed (the gate records it). */
  payload: PayloadItem[];
  /** deb kind: the .deb on the harness. */
  debFile: string;
  /** deb kind: the package the .deb holds, and its version (apt kind: the source package and its version). */
  package: string;
  version: string;
  /** apt kind: the update's binary packages, checked against the signed index. */
  apt?: { suite: string; packages: AptArtifactPackage[] };
  /** script/files kinds: the payload files shipped next to the manifest. */
  files?: PayloadFile[];
  /** A combined artifact (PatchProvisioner.combine): the patches it installs in one transaction. */
  members?: PatchArtifact[];
}

/** A file of a script or files patch, on the harness. */
export interface PayloadFile {
  /** Path relative to the manifest's folder. */
  rel: string;
  /** Absolute path on the harness. */
  local: string;
  sha256: string;
  mode: number;
}

export interface StepOutcome {
  ok: boolean;
  /** Who a failure is on: the patch (rejects it) or the harness, which could not do the step (undecided). */
  blame?: "patch" | "harness";
  message: string;
  output: string;
  durationMs: number;
  /** The installer's exit code, when one ran. */
  exitCode?: number;
  /** The step outlived its timeout and was killed on the machine. */
  timedOut?: boolean;
  /** The installer says the machine must restart (an exit code it declared for that). */
  restartRequired?: boolean;
  /** Size of the uninstall backup kept for this patch (bytes). */
  backupBytes?: number;
  /** Dependencies the machine lacks (the step did not run: needs review, not the patch's fault). */
  missing?: string[];
}

export interface PatchProvisioner {
  install(conn: Connection, a: PatchArtifact): Promise<StepOutcome>;
  uninstall(conn: Connection, a: PatchArtifact): Promise<StepOutcome>;
  isInstalled(conn: Connection, a: PatchArtifact): Promise<boolean>;
  /**
   * The harness's own upkeep on the machine before `artifacts` are verified there (apt: its
   * sources pointed at the lab update server). Called at the start of each verification, before
   * the state before install is taken, so what the harness changes is never counted as the
   * patch's residue. Never evidence: a failure here leaves the install to say why it cannot run.
   */
  prepare?(conn: Connection, artifacts: PatchArtifact[]): Promise<void>;
  /**
   * `group` as one artifact installed and removed in one transaction (what `apt upgrade` does in
   * production), or undefined when its kind cannot (then each is installed in turn). A failed
   * transaction fails the aggregate, and the search for the culprit verifies smaller parts.
   */
  combine?(conn: Connection, group: PatchArtifact[]): PatchArtifact | undefined;
}
