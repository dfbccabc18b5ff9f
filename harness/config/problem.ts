// One way to build a config error, so every file format reports problems in the same
// shape: `file:line:col: field: what is wrong (got value)` plus a remedy.
import { ConfigError } from "../core/errors.ts";
import { formatFieldPath, valueAt, type FieldPath, type YamlSource } from "./yaml-source.ts";

/** A ConfigError that also knows the column (core's ConfigError stops at the line). */
export class LocatedConfigError extends ConfigError {
  readonly column: number | undefined;
  constructor(
    message: string,
    remedy: string,
    where: { file?: string; field?: string; line?: number; column?: number; value?: unknown },
  ) {
    super(message, remedy, where);
    this.column = where.column;
    this.name = "ConfigError"; // what a person reads; the subclass is an implementation detail
  }
}

export interface ProblemOptions {
  /** Point at the key `key` of the mapping at `path` rather than at a value (unknown keys). */
  key?: string;
  /** The offending value; defaults to the raw value at the path. Pass `null`-ish explicitly to show it. */
  value?: unknown;
  /** Leave the "(got ...)" out, e.g. when the message already quotes the value. */
  omitValue?: boolean;
}

/** Build a located error for the node at `fieldPath` of `source`. */
export function problemAt(
  source: YamlSource,
  fieldPath: FieldPath,
  message: string,
  remedy: string,
  opts: ProblemOptions = {},
): LocatedConfigError {
  const pos = opts.key !== undefined ? source.locateKey(fieldPath, opts.key) : source.locate(fieldPath);
  const fullPath = opts.key !== undefined ? [...fieldPath, opts.key] : fieldPath;
  const value = "value" in opts ? opts.value : valueAt(source.data, fullPath);
  return fileProblem(source.displayFile, message, remedy, {
    field: formatFieldPath(fullPath) || undefined,
    line: pos?.line,
    column: pos?.col,
    value,
    omitValue: opts.omitValue,
  });
}

/** Build an error for a file (or a place in it) without a parsed document: missing file, syntax error. */
export function fileProblem(
  displayFile: string,
  message: string,
  remedy: string,
  where: { field?: string; line?: number; column?: number; value?: unknown; omitValue?: boolean } = {},
): LocatedConfigError {
  let prefix = displayFile;
  if (where.line !== undefined) prefix += `:${where.line}`;
  if (where.line !== undefined && where.column !== undefined) prefix += `:${where.column}`;
  const field = where.field ? `${where.field}: ` : "";
  const got = where.value === undefined || where.omitValue ? "" : ` (got ${shortJson(where.value)})`;
  return new LocatedConfigError(`${prefix}: ${field}${message}${got}`, remedy, {
    file: displayFile,
    field: where.field,
    line: where.line,
    column: where.column,
    value: where.value,
  });
}

/** JSON of a value, cut to one short line so a huge mapping does not flood the report. */
export function shortJson(value: unknown, max = 60): string {
  let text: string;
  try {
    text = JSON.stringify(value) ?? String(value);
  } catch {
    text = String(value);
  }
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}

/** Order a file's problems top to bottom, the order a person fixes them in. */
export function byPosition(a: LocatedConfigError | ConfigError, b: LocatedConfigError | ConfigError): number {
  const la = a.line ?? 0;
  const lb = b.line ?? 0;
  if (la !== lb) return la - lb;
  const ca = a instanceof LocatedConfigError ? (a.column ?? 0) : 0;
  const cb = b instanceof LocatedConfigError ? (b.column ?? 0) : 0;
  return ca - cb;
}
