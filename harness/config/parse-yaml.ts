// Read one YAML config file and validate it against a zod schema, collecting every
// problem of the file in one pass. Every format patchlab reads goes through here so
// labs, patches, batches (and later policies, waivers, catalogs) report errors alike.
import fs from "node:fs/promises";
import path from "node:path";
import { LineCounter, parseDocument, type YAMLError } from "yaml";
import type { z } from "zod";
import { ConfigError, ConfigErrors } from "../core/errors.ts";
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
  const text = await readText(abs, shown, what, opts.notFoundRemedy);

  const lineCounter = new LineCounter();
  // prettyErrors off: we want the parser's one-line message and compute line:col ourselves.
  const doc = parseDocument(text, { lineCounter, prettyErrors: false });
  if (doc.errors.length > 0) {
    throw new ConfigErrors(doc.errors.map((e) => syntaxProblem(e, shown, lineCounter)));
  }
  if (doc.contents === null) {
    throw new ConfigErrors([
      fileProblem(shown, `the ${what} is empty`, `write the ${what} as a YAML mapping of \`key: value\` lines`),
    ]);
  }
  const data: unknown = doc.toJS();
  if (data === null || typeof data !== "object" || Array.isArray(data)) {
    const pos = doc.contents.range ? lineCounter.linePos(doc.contents.range[0]) : undefined;
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

async function readText(abs: string, shown: string, what: string, notFoundRemedy?: string): Promise<string> {
  try {
    return await fs.readFile(abs, "utf8");
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === "ENOENT") {
      throw new ConfigErrors([fileProblem(shown, `${what} not found`, notFoundRemedy ?? `check the path: ${abs} does not exist`)]);
    }
    if (code === "EISDIR") {
      throw new ConfigErrors([fileProblem(shown, `is a directory, not a ${what}`, `name the YAML file inside it`)]);
    }
    throw new ConfigErrors([
      fileProblem(shown, `cannot read the ${what}: ${(err as Error).message}`, `check the file's permissions`),
    ]);
  }
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
