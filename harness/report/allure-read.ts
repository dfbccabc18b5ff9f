// Reads check outcomes back from Allure result files: Allure results are the one result
// model, so the gate decides on exactly what the report shows.
import fs from "node:fs";
import path from "node:path";
import { LATENCY_PARAMETER, type TestOutcome, type TestStatus } from "./outcome-model.ts";

interface AllureResultFile {
  name?: string;
  fullName?: string;
  titlePath?: string[];
  status?: string;
  statusDetails?: { message?: string };
  labels?: { name: string; value: string }[];
  parameters?: { name: string; value: string }[];
  start?: number;
  stop?: number;
}

const MAX_MESSAGE = 2000;

/** Allure can leave status unset (a test that never finished): that is not a pass. */
function toStatus(s: string | undefined): TestStatus {
  return s === "passed" || s === "failed" || s === "skipped" ? s : "broken";
}

/** "describe > test": the file path prefix differs between checkouts, the titles do not. */
function fullTitle(r: AllureResultFile): string {
  const name = r.name ?? "(unnamed)";
  const tp = r.titlePath ?? [];
  let fileIdx = -1;
  tp.forEach((seg, i) => {
    if (/\.[cm]?[jt]sx?$/.test(seg)) fileIdx = i;
  });
  const suites = fileIdx >= 0 ? tp.slice(fileIdx + 1) : [];
  return [...suites, name].join(" > ");
}

function readJson(file: string): unknown {
  try {
    return JSON.parse(fs.readFileSync(file, "utf8"));
  } catch {
    return undefined; // a half-written file from a killed process: skip, the caller counts results
  }
}

/**
 * Test results in `dir` carrying every label in `mustHave`, in start order, plus hook errors
 * (Allure's `*-globals.json`) as `broken` outcomes: a failed `before all` hook means the checks
 * under it never ran, which must not vanish from the result.
 */
export function readAllureOutcomes(dir: string, mustHave: Record<string, string> = {}): TestOutcome[] {
  let files: string[];
  try {
    files = fs.readdirSync(dir);
  } catch {
    return [];
  }
  const tests: (TestOutcome & { start: number })[] = [];
  for (const f of files.filter((f) => f.endsWith("-result.json"))) {
    const r = readJson(path.join(dir, f)) as AllureResultFile | undefined;
    if (!r) continue;
    const labels = r.labels ?? [];
    const matches = Object.entries(mustHave).every(([k, v]) => labels.some((l) => l.name === k && l.value === v));
    if (!matches) continue;
    const message = r.statusDetails?.message;
    const latency = Number(r.parameters?.find((p) => p.name === LATENCY_PARAMETER)?.value ?? NaN);
    tests.push({
      name: fullTitle(r),
      status: toStatus(r.status),
      ...(message ? { message: message.slice(0, MAX_MESSAGE) } : {}),
      durationMs: Math.max(0, (r.stop ?? r.start ?? 0) - (r.start ?? 0)),
      ...(Number.isFinite(latency) && latency >= 0 ? { latencyMs: latency } : {}),
      start: r.start ?? 0,
    });
  }
  tests.sort((a, b) => a.start - b.start);
  const out: TestOutcome[] = tests.map(({ start: _s, ...t }) => t);
  const seen = new Map<string, number>();
  for (const f of files.filter((f) => f.endsWith("-globals.json"))) {
    const g = readJson(path.join(dir, f)) as { errors?: { message?: string }[] } | undefined;
    for (const e of g?.errors ?? []) {
      const message = e.message ?? "hook failed";
      // allure-mocha words it '"before all" hook failed: <error>'; the hook part is the stable name.
      const base = message.split(" failed")[0] || "hook";
      const n = (seen.get(base) ?? 0) + 1;
      seen.set(base, n);
      out.push({ name: n === 1 ? base : `${base} (${n})`, status: "broken", message: message.slice(0, MAX_MESSAGE), durationMs: 0 });
    }
  }
  return out;
}
