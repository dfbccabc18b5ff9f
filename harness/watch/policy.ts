// The watchers' thresholds (lab-config/policies/watch.yaml): what each watcher counts as a
// finding, how severe it is and whether it rejects the patch. zod is the single source of
// truth; the JSON Schema for editors is exported from it (watch-policy.schema.json).
import path from "node:path";
import { z } from "zod";
import { ServerRole } from "../config/schemas.ts";
import { parseYamlFile } from "../config/parse-yaml.ts";
import { problemAt } from "../config/problem.ts";
import type { ConfigError } from "../core/errors.ts";
import { configRoot } from "../core/paths.ts";

const regex = z.string().min(1).refine((s) => {
  try {
    new RegExp(s, "i");
    return true;
  } catch {
    return false;
  }
}, "must be a valid regular expression (JavaScript syntax, matched case-insensitively)");

const Severity = z.enum(["info", "warning", "error"]);
/** How a finding of this kind is judged. */
const judged = <T extends z.ZodRawShape>(shape: T, severity: "info" | "warning" | "error" = "error", rejects = true) =>
  z
    .object({
      ...shape,
      severity: Severity.default(severity).describe("severity of the finding"),
      rejects: z.boolean().default(rejects).describe("whether the finding rejects the patch"),
    })
    .strict();

const positive = z.number().positive();

export const DEFAULT_ERROR_PATTERN =
  "\\b(error|err|crit|critical|alert|emerg|emergency|fatal|panic|failed|failure|segfault|core dumped|exception|traceback|denied|refused|abort(ed)?)\\b|\\[(error|crit|alert|emerg)\\]";

export const WatchPolicy = z
  .object({
    name: z.string().regex(/^[a-z][a-z0-9-]{0,30}$/),
    description: z.string().optional(),
    window: z
      .object({
        seconds: positive.default(10).describe("how long every phase is observed (the baseline and each later phase alike)"),
        sampleSeconds: z.number().min(0.5).default(1).describe("sampling period inside the window (not below 0.5 s: the sampling itself costs CPU)"),
      })
      .strict()
      .prefault({}),
    logs: z
      .object({
        errorPattern: regex.default(DEFAULT_ERROR_PATTERN).describe("a line matching this is error-level (case-insensitive)"),
        roles: z
          .partialRecord(ServerRole, z.object({ errorPattern: regex.describe("replaces errorPattern for this role's machines") }).strict())
          .default({})
          .describe("per-role error-level pattern; a log file's own errorPattern (declared by its role module) wins over both"),
        ignore: z.array(regex).default([]).describe("lines matching any of these are never findings (known harmless noise)"),
        newError: judged({ minCount: z.number().int().min(1).default(1).describe("a new error-level signature needs at least this many lines") }).prefault({}),
        rateJump: judged({
          factor: z.number().min(1).default(3).describe("a known error-level signature's rate grew at least this many times"),
          minExtraPerMinute: positive.default(6).describe("...and by at least this many lines per minute"),
        }).prefault({}),
        maxBytesPerSource: z.number().int().min(4096).default(4 << 20).describe("a log source is read up to this many bytes per window"),
        sampleLines: z.number().int().min(1).max(100).default(5).describe("sample lines attached per signature"),
      })
      .strict()
      .prefault({}),
    counters: z
      .object({
        cpu: judged({ medianIncreasePoints: positive.default(20).describe("median CPU (percent of one core) grew by this many points") }).prefault({}),
        memory: judged({
          increaseMB: positive.default(50).describe("memory held by processes (no page cache) grew by this many MB over the baseline median"),
          trendMB: positive.default(40).describe("...or grew steadily by this many MB within the window (a leak)"),
        }).prefault({}),
        processes: judged({
          increase: z.number().int().min(1).default(5).describe("process count (median) grew by this many"),
          trend: z.number().int().min(1).default(5).describe("...or grew steadily by this many within the window"),
        }).prefault({}),
        threads: judged({ increase: z.number().int().min(1).default(40) }, "warning", false).prefault({}),
        openFiles: judged({ increase: z.number().int().min(1).default(200) }, "warning", false).prefault({}),
        disk: judged({ increaseMB: positive.default(100).describe("disk used by the machine grew by this many MB") }, "warning", false).prefault({}),
        restarts: judged({}).prefault({}).describe("a service (long-running process) that crashed, was restarted or died"),
      })
      .strict()
      .prefault({}),
    latency: judged({
      factor: z.number().min(1).default(3).describe("a check's service latency grew at least this many times"),
      plusMs: z.number().min(0).default(500).describe("...and by at least this many ms"),
    }).prefault({}),
    soak: judged({
      seconds: z.number().min(0).default(20).describe("observation window after install (seconds in CI, hours in a real lab)"),
      suiteIntervalSeconds: positive.default(10).describe("the limited suites are re-run this often during the soak"),
    }).prefault({}),
    watch: z
      .object({
        intervalSeconds: positive.default(300).describe("`patchlab watch`: time between two observation windows"),
        minIntervalSeconds: positive.default(10).describe("lower bound for --interval (bounded sampling rate)"),
      })
      .strict()
      .prefault({}),
  })
  .strict()
  .meta({
    title: "patchlab watch policy",
    description: "Thresholds of the log, counter, latency and soak watchers (lab-config/policies/watch.yaml).",
  });
export type WatchPolicy = z.infer<typeof WatchPolicy>;

/** The policy with every default: what a missing file means. */
export const defaultWatchPolicy = (): WatchPolicy => WatchPolicy.parse({ name: "default" });

const defaults = defaultWatchPolicy();

function pick(o: unknown, num: (o: unknown, k: string) => number | undefined, keys: string[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const k of keys) {
    const v = num(o, k);
    if (v !== undefined) out[k] = v;
  }
  return out;
}

/** Load a watch policy by name (lab-config/policies/<name>.yaml) or path. */
export async function loadWatchPolicy(ref = "watch"): Promise<WatchPolicy> {
  const file = /^[a-z][a-z0-9-]*$/.test(ref) ? path.join(configRoot(), "policies", `${ref}.yaml`) : path.resolve(ref);
  const parsed = await parseYamlFile(file, WatchPolicy, {
    what: "watch policy",
    notFoundRemedy: "write lab-config/policies/watch.yaml (see lab-config/schemas/watch-policy.schema.json) or pass a path",
    // Cross-field checks on the raw data, so they are reported with the schema's problems.
    check: ({ source, data }) => {
      const problems: ConfigError[] = [];
      const num = (o: unknown, k: string) => (o && typeof o === "object" && typeof (o as Record<string, unknown>)[k] === "number" ? ((o as Record<string, unknown>)[k] as number) : undefined);
      const d = data as Record<string, unknown>;
      const w = { ...defaults.window, ...pick(d["window"], num, ["seconds", "sampleSeconds"]) };
      const wa = { ...defaults.watch, ...pick(d["watch"], num, ["intervalSeconds", "minIntervalSeconds"]) };
      if (wa.intervalSeconds < wa.minIntervalSeconds) {
        problems.push(problemAt(source, ["watch", "intervalSeconds"], `intervalSeconds ${wa.intervalSeconds} is below minIntervalSeconds ${wa.minIntervalSeconds}`, "raise intervalSeconds or lower minIntervalSeconds"));
      }
      if (w.sampleSeconds > w.seconds) {
        problems.push(problemAt(source, ["window", "sampleSeconds"], `sampleSeconds ${w.sampleSeconds} is longer than the window (${w.seconds} s)`, "sample at least once per window: lower sampleSeconds"));
      }
      return problems;
    },
  });
  return parsed.value;
}

/** The error-level pattern for a machine playing these roles (the first role with its own wins). */
export function errorPatternFor(policy: WatchPolicy, roles: readonly string[]): RegExp {
  for (const r of roles) {
    const own = policy.logs.roles[r as ServerRole]?.errorPattern;
    if (own) return new RegExp(own, "i");
  }
  return new RegExp(policy.logs.errorPattern, "i");
}
