// Typed errors. The split matters more than the messages: CI must be able to tell
// "your input is wrong" (3) from "the lab could not run the check" (2) from
// "the patch broke something" (1). Every error carries a remedy a person can act on.
import { classifyError, REMEDIES } from "./classify.ts";

export const ExitCode = {
  approved: 0,
  rejected: 1,
  undecided: 2,
  badInput: 3,
} as const;
export type ExitCodeValue = (typeof ExitCode)[keyof typeof ExitCode];

export abstract class PatchlabError extends Error {
  abstract readonly exitCode: ExitCodeValue;
  readonly remedy: string;
  constructor(message: string, remedy: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
    this.remedy = remedy;
  }
  /** One block a person reads: what happened, then what to do. */
  describe(): string {
    return `${this.name}: ${this.message}\n  remedy: ${this.remedy}`;
  }
}

/** Bad input: a config file, a CLI argument. Nothing has been changed when this is thrown. */
export class ConfigError extends PatchlabError {
  readonly exitCode = ExitCode.badInput;
  readonly file: string | undefined;
  readonly field: string | undefined;
  readonly line: number | undefined;
  readonly value: unknown;
  constructor(
    message: string,
    remedy: string,
    where: { file?: string; field?: string; line?: number; value?: unknown } = {},
    options?: { cause?: unknown },
  ) {
    super(message, remedy, options);
    this.file = where.file;
    this.field = where.field;
    this.line = where.line;
    this.value = where.value;
  }
}

/** Several config problems found in one pass, reported together so a person fixes them in one go. */
export class ConfigErrors extends PatchlabError {
  readonly exitCode = ExitCode.badInput;
  readonly errors: ConfigError[];
  constructor(errors: ConfigError[]) {
    super(
      errors.map((e) => e.message).join("\n"),
      errors.map((e) => e.remedy).filter((r, i, all) => all.indexOf(r) === i).join("; "),
    );
    this.errors = errors;
  }
  override describe(): string {
    return this.errors.map((e) => e.describe()).join("\n");
  }
}

export type LabErrorKind =
  | "engine-unreachable" // no Docker engine answers
  | "dependency-missing" // a host tool (java, chromium, dpkg-deb...) is absent
  | "image-build" // an image recipe failed to build
  | "machine-start" // a container would not create/start
  | "readiness-timeout" // a machine did not become ready before its deadline
  | "exec" // a command could not be run on a machine (not: it ran and failed)
  | "snapshot"
  | "restore"
  | "busy" // another patchlab process holds the lab
  | "network" // the lab network could not be created
  | "timeout" // an external call (engine API, child process, HTTP) passed its deadline
  | "machine-killed" // a lab machine stopped under us (OOM-killed, engine restarted, removed)
  | "connection-dropped" // the connection to the engine or a machine broke mid-call
  | "disk-full" // no space left (engine storage, a machine's disk, the reports directory)
  | "interrupted" // Ctrl-C or SIGTERM: the run stopped and the lab is being put back
  | "harness"; // a bug or crash in patchlab itself

/** The lab (or the harness) could not do its job. Never a verdict on a patch. */
export class LabError extends PatchlabError {
  readonly exitCode = ExitCode.undecided;
  readonly kind: LabErrorKind;
  readonly machine: string | undefined;
  constructor(
    kind: LabErrorKind,
    message: string,
    remedy: string,
    where: { machine?: string } = {},
    options?: { cause?: unknown },
  ) {
    super(message, remedy, options);
    this.kind = kind;
    this.machine = where.machine;
  }
}

/** The patch itself misbehaved: its installer or uninstaller failed. */
export class PatchError extends PatchlabError {
  readonly exitCode = ExitCode.rejected;
  readonly patchId: string;
  readonly machine: string | undefined;
  readonly step: "install" | "uninstall" | "verify";
  readonly output: string;
  constructor(
    patchId: string,
    step: "install" | "uninstall" | "verify",
    message: string,
    remedy: string,
    where: { machine?: string; output?: string } = {},
  ) {
    super(message, remedy);
    this.patchId = patchId;
    this.step = step;
    this.machine = where.machine;
    this.output = where.output ?? "";
  }
}

/**
 * A check found the product wrong. Thrown inside suites (it is an assertion failure,
 * so allure-mocha records it as `failed`, not `broken`).
 */
export class CheckFailure extends Error {
  constructor(message: string) {
    super(message);
    this.name = "AssertionError"; // allure-mocha maps AssertionError -> failed
  }
}

/**
 * Turn anything thrown into a PatchlabError so the CLI always has an exit code and a remedy:
 * recognisable lab trouble (engine gone, connection dropped, disk full, timeout, machine
 * killed) gets its kind and remedy; anything else is a harness error.
 */
export function asPatchlabError(err: unknown): PatchlabError {
  if (err instanceof PatchlabError) return err;
  const message = err instanceof Error ? err.message : String(err);
  const kind = classifyError(err);
  if (kind) return new LabError(kind, message, REMEDIES[kind] ?? "retry; if it persists look at the engine's log", {}, { cause: err });
  return new LabError(
    "harness",
    `unexpected error: ${message}`,
    "this is a patchlab bug or an environment problem; re-run with PATCHLAB_DEBUG=1 for a stack trace and report it",
    {},
    { cause: err },
  );
}
