// Turn zod's issues into errors a person can act on: say where (line), what was found,
// and what to write instead. zod knows the rule; the YAML source knows the place.
import type { z } from "zod";
import type { LocatedConfigError } from "./problem.ts";
import { problemAt, shortJson } from "./problem.ts";
import { descriptionAt, keysAt, requiredKeysAt, unionBranchesAt, unionShapesAt } from "./schema-walk.ts";
import { closest } from "./suggest.ts";
import { formatFieldPath, valueAt, type FieldPath, type YamlSource } from "./yaml-source.ts";

type Issue = z.core.$ZodIssue;
type AnySchema = z.core.$ZodType;

export function issuesToProblems(source: YamlSource, schema: AnySchema, issues: readonly Issue[]): LocatedConfigError[] {
  const ctx = new IssueContext(source, schema);
  // An unknown key that is a typo of a missing required key is one mistake, not two:
  // report the typo ("did you mean `roles:`?") and drop the "missing roles" error.
  const typoFixes = new Set<string>();
  for (const issue of issues) {
    if (issue.code !== "unrecognized_keys") continue;
    const required = requiredKeysAt(schema, issue.path);
    const parent = valueAt(source.data, issue.path);
    for (const key of issue.keys) {
      const fix = closest(key, required.filter((k) => !hasKey(parent, k)));
      if (fix) typoFixes.add(formatFieldPath([...issue.path, fix]));
    }
  }
  return issues
    .filter((i) => !(isMissing(source.data, i) && typoFixes.has(formatFieldPath(i.path))))
    .flatMap((i) => ctx.convert(i, []));
}

class IssueContext {
  constructor(
    private readonly source: YamlSource,
    private readonly schema: AnySchema,
  ) {}

  /** `base` prefixes paths of issues nested in a union branch (zod makes those relative). */
  convert(issue: Issue, base: FieldPath): LocatedConfigError[] {
    const p: FieldPath = [...base, ...issue.path];
    const value = valueAt(this.source.data, p);
    const at = (message: string, remedy: string, omitValue = false) =>
      [problemAt(this.source, p, message, remedy, { omitValue })];

    switch (issue.code) {
      case "invalid_type": {
        if (isMissing(this.source.data, { ...issue, path: p })) {
          const key = String(p[p.length - 1]);
          const what = descriptionAt(this.schema, p);
          return at(
            `missing required key "${key}"`,
            `add \`${key}:\` ${this.placeOf(p.slice(0, -1))}${what ? ` (${what})` : ""}`,
          );
        }
        return at(`expected ${article(issue.expected)}, got ${describeValue(value)}`, typeRemedy(p, issue.expected, value), true);
      }
      case "invalid_value": {
        const allowed = issue.values.map(String);
        if (allowed.length === 1) return at(`must be ${shortJson(issue.values[0])}`, `write \`${String(p[p.length - 1])}: ${allowed[0]}\``);
        const guess = typeof value === "string" ? closest(value, allowed) : undefined;
        return at(
          `unknown ${nounOf(p)} ${shortJson(value)}`,
          `${guess ? `did you mean "${guess}"? ` : ""}use one of: ${allowed.join(", ")}`,
        );
      }
      case "unrecognized_keys":
        return issue.keys.map((key) => {
          const valid = keysAt(this.schema, p);
          const parent = valueAt(this.source.data, p);
          const guess = closest(key, valid.filter((k) => !hasKey(parent, k)));
          const remedy = guess
            ? `did you mean \`${guess}:\`? rename \`${key}:\` to \`${guess}:\``
            : `remove \`${key}:\`${valid.length ? `; valid keys here: ${valid.join(", ")}` : ""}`;
          return problemAt(this.source, p, `unknown key "${key}"`, remedy, { key });
        });
      case "invalid_format":
        return at(formatMessage(issue), formatRemedy(issue));
      case "too_small":
        if (issue.origin === "array") {
          return at(`must list at least ${String(issue.minimum)} ${nounOf([...p, 0])}${issue.minimum === 1 ? "" : "s"}`, `add at least ${String(issue.minimum)} item(s) under \`${String(p[p.length - 1])}:\``);
        }
        if (issue.origin === "string") return at(`must not be empty`, `fill in \`${String(p[p.length - 1])}:\`${hint(this.schema, p)}`);
        return at(`must be at least ${String(issue.minimum)}`, `use a value of at least ${String(issue.minimum)}`);
      case "too_big":
        if (issue.origin === "array") return at(`lists more than ${String(issue.maximum)} items`, `keep at most ${String(issue.maximum)}`);
        if (issue.origin === "string") return at(`is longer than ${String(issue.maximum)} characters`, `shorten it to ${String(issue.maximum)} characters or fewer`);
        return at(`must be at most ${String(issue.maximum)}`, `use a value of at most ${String(issue.maximum)}`);
      case "invalid_union":
        return this.union(issue, p);
      default:
        return at(issue.message, `fix \`${formatFieldPath(p) || "the file"}\`${hint(this.schema, p)}`);
    }
  }

  /**
   * A union (e.g. `deb: {file}` | `deb: {build}`): if one alternative clearly matched
   * (its problems are all deeper than the union itself), report those; otherwise say
   * which forms are accepted.
   */
  private union(issue: Extract<Issue, { code: "invalid_union" }>, p: FieldPath): LocatedConfigError[] {
    const d = issue as { note?: string; discriminator?: string; options?: unknown[] };
    if (d.note === "No matching discriminator" && d.discriminator) return this.discriminator(p, d.discriminator, (d.options ?? []).filter((o): o is string => typeof o === "string")); // an optional discriminator (a machine's driver) lists undefined too
    const matchedKeys = (branch: readonly Issue[]) =>
      branch.length > 0 &&
      branch.every(
        (i) => i.path.length > 0 && i.code !== "unrecognized_keys" && !isMissing(this.source.data, { ...i, path: [...p, ...i.path] }),
      );
    const deep = issue.errors.find(matchedKeys);
    if (deep) return deep.flatMap((i) => this.convert(i, p));
    const shapes = unionShapesAt(this.schema, p);
    const value = valueAt(this.source.data, p);
    const forms = shapes.length ? shapes.map((keys) => keys.map((k) => `\`${k}:\``).join(" + ")).join(" or ") : "one of the accepted forms";
    const described = shapes
      .map((keys) => keys.map((k) => `${k}: ${descriptionAt(this.schema, [...p, k]) ?? "see the schema"}`).join(", "))
      .join("; ");
    return [
      problemAt(
        this.source,
        p,
        isRecord(value) ? `must have exactly one of ${forms}` : `expected a mapping with ${forms}, got ${describeValue(value)}`,
        `use exactly one of ${forms}${described ? ` (${described})` : ""}`,
        { omitValue: !isRecord(value) },
      ),
    ];
  }

  /**
   * A discriminated union (a patch's `kind:`) with an unknown or missing discriminator. When the
   * other keys show which form was meant (`deb:` present -> kind deb), say so and report that
   * form's own problems too, so one pass shows everything to fix. (catalog helper, issue 7)
   */
  private discriminator(p: FieldPath, key: string, allowed: string[]): LocatedConfigError[] {
    const parentPath = p.slice(0, -1);
    const parent = valueAt(this.source.data, parentPath);
    const branches = unionBranchesAt(this.schema, parentPath);
    const keysOf = (b: AnySchema) => Object.keys((b._zod.def as unknown as { shape?: Record<string, unknown> }).shape ?? {});
    const unique = (b: AnySchema) => keysOf(b).filter((k) => k !== key && branches.filter((o) => keysOf(o).includes(k)).length === 1);
    const meant = branches.find((b) => unique(b).some((k) => hasKey(parent, k)));
    type LiteralDef = { values?: unknown[]; innerType?: AnySchema };
    // An optional discriminator (a machine's `driver:`, docker when absent) wraps its literal.
    const literalOf = (s: AnySchema): unknown => { const d = s._zod.def as unknown as LiteralDef; return d.values?.[0] ?? (d.innerType ? literalOf(d.innerType) : undefined); };
    const meantValue = meant ? String(literalOf((meant._zod.def as unknown as { shape: Record<string, AnySchema> }).shape[key]!) ?? "") : undefined;
    const value = valueAt(this.source.data, p);
    const out = [
      problemAt(
        this.source,
        p,
        hasKey(parent, key) ? `unknown ${key} ${shortJson(value)}` : `missing required key "${key}"`,
        meantValue ? `write \`${key}: ${meantValue}\`` : `use one of: ${allowed.join(", ")}`,
      ),
    ];
    if (meant) {
      const r = (meant as unknown as z.ZodType).safeParse(parent);
      if (!r.success) out.push(...r.error.issues.filter((i) => i.path[0] !== key).flatMap((i) => this.convert(i as Issue, parentPath)));
    }
    return out;
  }

  /** "to machine 'web'", "under `owner:` of machine 'web'", "at the top level of the file". */
  private placeOf(parentPath: FieldPath): string {
    let lastIndex = -1;
    parentPath.forEach((k, i) => {
      if (typeof k === "number") lastIndex = i;
    });
    const rest = parentPath.slice(lastIndex + 1).map(String).join(".");
    if (lastIndex < 0) return rest ? `under \`${rest}:\`` : "at the top level of the file";
    const itemPath = parentPath.slice(0, lastIndex + 1);
    const item = valueAt(this.source.data, itemPath);
    const itemName = isRecord(item) && typeof item["name"] === "string" ? `${nounOf(itemPath)} '${item["name"]}'` : formatFieldPath(itemPath);
    return rest ? `under \`${rest}:\` of ${itemName}` : `to ${itemName}`;
  }
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === "object" && !Array.isArray(v);
}

function hasKey(obj: unknown, key: string): boolean {
  return isRecord(obj) && Object.prototype.hasOwnProperty.call(obj, key);
}

/** A required key that is absent (not: present with the wrong type). */
function isMissing(data: unknown, issue: { code?: string; path: readonly PropertyKey[] }): boolean {
  if (issue.code !== "invalid_type" || issue.path.length === 0) return false;
  const parent = valueAt(data, issue.path.slice(0, -1));
  return isRecord(parent) && !hasKey(parent, String(issue.path[issue.path.length - 1]));
}

/** "role" for machines[0].roles[1], "machine" for machines[2], "criticality" for ...criticality. */
function nounOf(p: FieldPath): string {
  const last = p[p.length - 1];
  const key = typeof last === "number" ? p[p.length - 2] : last;
  const word = key === undefined ? "value" : String(key);
  if (typeof last !== "number") return word;
  if (word.endsWith("ches") || word.endsWith("shes")) return word.slice(0, -2);
  if (word.endsWith("ies")) return `${word.slice(0, -3)}y`;
  return word.endsWith("s") ? word.slice(0, -1) : word;
}

function article(expected: string): string {
  const names: Record<string, string> = {
    array: "a list",
    object: "a mapping",
    string: "a string",
    number: "a number",
    int: "a whole number",
    boolean: "true or false",
  };
  return names[expected] ?? expected;
}

function describeValue(v: unknown): string {
  if (v === null || v === undefined) return "nothing (an empty value)";
  if (Array.isArray(v)) return `a list ${shortJson(v, 40)}`;
  if (typeof v === "object") return `a mapping ${shortJson(v, 40)}`;
  if (typeof v === "string") return `a string ${shortJson(v, 40)}`;
  if (typeof v === "number") return `a number ${String(v)}`;
  if (typeof v === "boolean") return `a boolean ${String(v)}`;
  return typeof v;
}

function typeRemedy(p: FieldPath, expected: string, value: unknown): string {
  const key = typeof p[p.length - 1] === "number" ? formatFieldPath(p) : String(p[p.length - 1]);
  if (expected === "array") {
    const example = typeof value === "string" ? `[${value.split(/[\s,]+/).filter(Boolean).join(", ")}]` : "[...]";
    return `write it as a list: \`${key}: ${example}\``;
  }
  if (expected === "string" && (typeof value === "number" || typeof value === "boolean")) {
    return `quote it so YAML reads text: \`${key}: "${String(value)}"\``;
  }
  if (expected === "string" && (value === null || value === undefined)) return `fill in a value after \`${key}:\``;
  if (expected === "object") return `write \`${key}:\` as a mapping of \`key: value\` lines (indented under it) or \`{ key: value }\``;
  return `change \`${key}\` to ${article(expected)}`;
}

function formatMessage(issue: Extract<Issue, { code: "invalid_format" }>): string {
  switch (issue.format) {
    case "ipv4":
      return "not an IPv4 address";
    case "cidrv4":
      return "not an IPv4 subnet in CIDR form";
    case "email":
      return "not an e-mail address";
    default:
      return issue.message;
  }
}

function formatRemedy(issue: Extract<Issue, { code: "invalid_format" }>): string {
  switch (issue.format) {
    case "ipv4":
      return "write four numbers 0-255 separated by dots, e.g. 172.30.77.10";
    case "cidrv4":
      return "write the network address and prefix length, e.g. 172.30.77.0/24";
    case "email":
      return "write an address like team@corp.example";
    default:
      // Our regex messages read "must be ..."; they already say what to write.
      return `change the value: it ${issue.message}`;
  }
}

function hint(schema: AnySchema, p: FieldPath): string {
  const d = descriptionAt(schema, p);
  return d ? ` (${d})` : "";
}
