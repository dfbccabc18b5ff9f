// JUnit for a suite whose checks were retried: mocha's xunit file of the first try would show
// a failure that the retry cleared, so the file is rewritten from the merged outcomes.
// failed -> <failure>, broken -> <error>; earlier tries use Surefire's rerun elements
// (<flakyFailure>/<flakyError> on a pass, <rerunFailure>/<rerunError> on a final failure),
// which Jenkins and GitLab read.
import fs from "node:fs";
import path from "node:path";
import type { TestOutcome } from "../report/outcome-model.ts";

const xml = (s: string) =>
  s
    .replace(/[<>&"']/g, (c) => ({ "<": "&lt;", ">": "&gt;", "&": "&amp;", '"': "&quot;", "'": "&apos;" })[c]!)
    .replace(/[\u0000-\u0008\u000B\u000C\u000E-\u001F]/g, "");

export function suiteJunit(suiteName: string, tests: TestOutcome[]): string {
  const count = (s: string) => tests.filter((t) => t.status === s).length;
  const body = tests.map((t) => {
    const parts = t.name.split(" > ");
    const title = parts.pop()!;
    const open = `  <testcase classname="${xml(parts.join(" "))}" name="${xml(title)}" time="${(t.durationMs / 1000).toFixed(3)}"`;
    const inner: string[] = [];
    for (const a of t.attempts ?? []) {
      if (a.status !== "failed" && a.status !== "broken") continue;
      const kind = t.status === "passed" ? "flaky" : "rerun";
      const el = `${kind}${a.status === "failed" ? "Failure" : "Error"}`;
      inner.push(`    <${el} message="${xml(a.message ?? a.status)}">${xml(a.message ?? "")}</${el}>`);
    }
    if (t.status === "failed") inner.unshift(`    <failure message="${xml(t.message ?? "failed")}">${xml(t.message ?? "")}</failure>`);
    if (t.status === "broken") inner.unshift(`    <error message="${xml(t.message ?? "broken")}">${xml(t.message ?? "")}</error>`);
    if (t.status === "skipped") inner.unshift("    <skipped/>");
    return inner.length ? `${open}>\n${inner.join("\n")}\n  </testcase>` : `${open}/>`;
  });
  const seconds = tests.reduce((n, t) => n + t.durationMs, 0) / 1000;
  return [
    '<?xml version="1.0" encoding="UTF-8"?>',
    `<testsuite name="${xml(suiteName)}" tests="${tests.length}" failures="${count("failed")}" errors="${count("broken")}" skipped="${count("skipped")}" time="${seconds.toFixed(3)}">`,
    ...body,
    "</testsuite>",
    "",
  ].join("\n");
}

export function writeSuiteJunit(file: string, suiteName: string, tests: TestOutcome[]): void {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, suiteJunit(suiteName, tests));
}
