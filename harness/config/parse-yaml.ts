// Read one YAML config file and validate it against a zod schema, collecting every
// problem of the file in one pass. Every format patchlab reads goes through here so
// labs, patches, batches (and later policies, waivers, catalogs) report errors alike.
import { constants as fsConstants } from "node:fs";
import fs from "node:fs/promises";
import path from "node:path";
import { LineCounter, parseDocument, type YAMLError } from "yaml";
import type { z } from "zod";
import { ConfigError, ConfigErrors } from "../core/errors.ts";
import { flowDepthOver, formatBytes, limitEnv, limits } from "./limits.ts";
import { byPosition, fileProblem } from "./problem.ts";
import { displayPath, YamlSource } from "./yaml-source.ts";
import { issuesToProblems } from "./zod-issues.ts";

export interface ParseOptions<T> {
  /** What the file is, for messages: "lab", "patch manifest"... */
  what?: string;
  /** Remedy when the file does not exist (e.g. list the labs that do). */
  notFoundRemedy?: string;
  /**
   * Checks beyond the schema (duplicates, cross-references, files on disk). They run
   * even when the schema failed, on the raw data, so one pass reports everything;
   * `value` is set only when the schema passed. Return problems; do not throw.
   */
  check?: (ctx: CheckContext<T>) => ConfigError[] | Promise<ConfigError[]>;
}

export interface CheckContext<T> {
  source: YamlSource;
  /** The raw document (untrusted shape). */
  data: unknown;
  /** The schema-validated value, when the schema passed. */
  value: T | undefined;
}

export interface ParsedYaml<T> {
  value: T;
  /** Absolute path. */
  file: string;
  source: YamlSource;
}

export async function parseYamlFile<S extends z.ZodType>(
  file: string,
  schema: S,
  opts: ParseOptions<z.infer<S>> = {},
): Promise<ParsedYaml<z.infer<S>>> {
  const abs = path.resolve(file);
  const shown = displayPath(abs);
  const what = opts.what ?? "config file";
  const max = limits();
  const text = await readText(abs, shown, what, max.configBytes, opts.notFoundRemedy);
  const deep = flowDepthOver(text, max.flowDepth);
  if (deep) {
    throw new ConfigErrors([
      fileProblem(
        shown,
        `YAML nested more than ${max.flowDepth} levels deep ([ and { inside each other)`,
        `a ${what} needs a few levels at most: flatten the structure (or raise ${limitEnv("flowDepth")} if it is really meant)`,
        deep,
      ),
    ]);
  }

  const lineCounter = new LineCounter();
  let doc: ReturnType<typeof parseDocument>;
  let data: unknown;
  try {
    // prettyErrors off: we want the parser's one-line message and compute line:col ourselves.
    doc = parseDocument(text, { lineCounter, prettyErrors: false });
    if (doc.errors.length > 0) {
      throw new ConfigErrors(doc.errors.map((e) => syntaxProblem(e, shown, lineCounter)));
    }
    if (doc.contents === null) {
      throw new ConfigErrors([
        fileProblem(shown, `the ${what} is empty`, `write the ${what} as a YAML mapping of \`key: value\` lines`),
      ]);
    }
    data = doc.toJS({ maxAliasCount: max.aliasCount });
  } catch (err) {
    if (err instanceof ConfigErrors) throw err;
    throw new ConfigErrors([parserGaveUp(err, shown, what, text, lineCounter)]);
  }
  if (data === null || typeof data !== "object" || Array.isArray(data)) {
    const pos = doc.contents?.range ? lineCounter.linePos(doc.contents.range[0]) : undefined;
    throw new ConfigErrors([
      fileProblem(
        shown,
        `the ${what} must be a YAML mapping (key: value lines), got ${Array.isArray(data) ? "a list" : `a ${typeof data}`}`,
        `write the ${what} as \`key: value\` lines at the top level, not a list or a single value`,
        { line: pos?.line, column: pos?.col },
      ),
    ]);
  }

  const source = new YamlSource(abs, doc, lineCounter, data);
  const result = schema.safeParse(data);
  const problems: ConfigError[] = result.success ? [] : issuesToProblems(source, schema, result.error.issues);
  if (opts.check) {
    problems.push(...(await opts.check({ source, data, value: result.success ? result.data : undefined })));
  }
  if (problems.length > 0) throw new ConfigErrors(sortProblems(problems, shown));
  return { value: result.data as z.infer<S>, file: abs, source };
}

/**
 * The file's text, refusing before reading what no config file is: a directory, a device or
 * FIFO (reading would never end), a file over the size limit, binary data.
 */
async function readText(abs: string, shown: string, what: string, maxBytes: number, notFoundRemedy?: string): Promise<string> {
  let fh: fs.FileHandle | undefined;
  try {
    // O_NONBLOCK: opening a FIFO with no writer must not block; we refuse it just below.
    fh = await fs.open(abs, fsConstants.O_RDONLY | fsConstants.O_NONBLOCK);
    const stat = await fh.stat();
    if (stat.isDirectory()) {
      throw new ConfigErrors([fileProblem(shown, `is a directory, not a ${what}`, `name the YAML file inside it`)]);
    }
    if (!stat.isFile()) {
      throw new ConfigErrors([
        fileProblem(shown, `is not a regular file (a device, FIFO or socket), so it cannot be a ${what}`, `name a YAML file; copy the content to a file first if it comes from a pipe`),
      ]);
    }
    const tooBig = (size: string) =>
      new ConfigErrors([
        fileProblem(
          shown,
          `the ${what} is ${size}, over the ${formatBytes(maxBytes)} limit for config files`,
          `a ${what} is a few KB of YAML: check that this is the right file (or raise ${limitEnv("configBytes")} if it is really meant)`,
        ),
      ]);
    if (stat.size > maxBytes) throw tooBig(formatBytes(stat.size));
    // Read at most one byte past the limit: a file that grows (or lies about its size) stops there.
    const buf = Buffer.alloc(maxBytes + 1);
    let n = 0;
    for (;;) {
      const { bytesRead } = await fh.read(buf, n, buf.length - n, n);
      if (bytesRead === 0) break;
      n += bytesRead;
      if (n > maxBytes) throw tooBig(`more than ${formatBytes(maxBytes)}`);
    }
    const bytes = buf.subarray(0, n);
    if (bytes.includes(0)) {
      throw new ConfigErrors([fileProblem(shown, `is not a text file (it contains NUL bytes), so it cannot be a ${what}`, `name the YAML ${what}; a binary file was given`)]);
    }
    return bytes.toString("utf8");
  } catch (err) {
    if (err instanceof ConfigErrors) throw err;
    const code = (err as NodeJS.ErrnoException).code;
    if (code === "ENOENT") {
      throw new ConfigErrors([fileProblem(shown, `${what} not found`, notFoundRemedy ?? `check the path: ${abs} does not exist`)]);
    }
    if (code === "EISDIR") {
      throw new ConfigErrors([fileProblem(shown, `is a directory, not a ${what}`, `name the YAML file inside it`)]);
    }
    if (code === "ELOOP") {
      throw new ConfigErrors([fileProblem(shown, `is a symbolic link loop`, `point the link at a real file, or name the file itself`)]);
    }
    throw new ConfigErrors([
      fileProblem(shown, `cannot read the ${what}: ${(err as Error).message}`, `check the file's permissions`),
    ]);
  } finally {
    await fh?.close();
  }
}

/**
 * The parser threw instead of reporting: an alias bomb (anchors expanding a million-fold) or
 * nesting too deep for its recursion. Bad input, said as such, never an internal error.
 */
function parserGaveUp(err: unknown, shown: string, what: string, text: string, lc: LineCounter): ConfigError {
  const message = err instanceof Error ? err.message : String(err);
  if (/alias/i.test(message)) {
    const first = /(^|[\s[{,:-])\*[^\s,\]}]+/m.exec(text);
    const pos = first ? lc.linePos(first.index + first[1]!.length) : undefined;
    return fileProblem(
      shown,
      `YAML aliases expand to too many values (more than ${limits().aliasCount} per alias): this looks like an alias bomb ("billion laughs")`,
      `write the values out, or use fewer \`*alias\` references to \`&anchor\`s that themselves contain aliases (or raise ${limitEnv("aliasCount")} if it is really meant)`,
      pos ? { line: pos.line, column: pos.col } : {},
    );
  }
  return fileProblem(
    shown,
    `the YAML parser gave up: ${message.split("\n")[0]}`,
    `simplify the ${what}: it is nested too deeply or is not YAML`,
  );
}

const syntaxRemedies: Record<string, string> = {
  DUPLICATE_KEY: "a key may appear only once in a mapping: remove or rename the repeated key",
  MULTIPLE_DOCS: "keep one YAML document per file: remove the `---` separator and what follows, or split the file",
  BAD_INDENT: "align items of the same mapping or list at the same column, indenting with spaces",
  TAB_AS_INDENT: "indent with spaces, not tabs",
  MISSING_CHAR: "close the quote or bracket opened before this point",
  BLOCK_AS_IMPLICIT_KEY: "a value containing ': ' must be quoted, or put the nested mapping on its own indented lines",
  MULTILINE_IMPLICIT_KEY: "a key must fit on one line; check for a missing ':' or an unclosed quote above",
};

function syntaxProblem(e: YAMLError, shown: string, lc: LineCounter): ConfigError {
  const pos = lc.linePos(e.pos[0]);
  return fileProblem(shown, `YAML syntax error: ${e.message}`, syntaxRemedy(e), { line: pos.line, column: pos.col });
}

function syntaxRemedy(e: YAMLError): string {
  // An unclosed [ or { is noticed only where the next line starts: say so, or a person
  // stares at a correct line looking for the mistake.
  const unclosed = /end with an? ([\]}])/.exec(e.message);
  if (unclosed) return `a \`${unclosed[1] === "]" ? "[" : "{"}\` opened on an earlier line is not closed: add the missing \`${unclosed[1]}\` (look at the lines just above)`;
  return syntaxRemedies[e.code] ?? "fix the YAML syntax at this position; quote values that contain ': ', '#' or start with special characters";
}

/** This file's problems top to bottom; problems found in other files (a batch's patches) after, in order. */
function sortProblems(problems: ConfigError[], shown: string): ConfigError[] {
  const own = problems.filter((p) => p.file === shown).sort(byPosition);
  const others = problems.filter((p) => p.file !== shown);
  return [...own, ...others];
}
