// JUnit for the lifecycle steps (install, restart, uninstall, restore), beside the suites'
// own JUnit files: a CI view that only reads JUnit must still see "the installer failed".
// failed -> <failure> (the patch is wrong); broken -> <error> (the lab could not do it).
import fs from "node:fs";
import path from "node:path";

export interface LifecycleCase {
  machine: string;
  patch?: string;
  step: string;
  status: "passed" | "failed" | "broken" | "skipped";
  message: string;
  output?: string;
  start: number;
  stop: number;
}

const xml = (s: string) =>
  s.replace(/[<>&"']/g, (c) => ({ "<": "&lt;", ">": "&gt;", "&": "&amp;", '"': "&quot;", "'": "&apos;" })[c]!)
    // XML 1.0 forbids most control characters; dpkg output may carry them.
    .replace(/[\u0000-\u0008\u000B\u000C\u000E-\u001F]/g, "");

export function lifecycleJunit(cases: LifecycleCase[]): string {
  const count = (s: LifecycleCase["status"]) => cases.filter((c) => c.status === s).length;
  const seconds = (c: LifecycleCase) => ((c.stop - c.start) / 1000).toFixed(3);
  const body = cases.map((c) => {
    const name = xml(`${c.step}${c.patch ? ` ${c.patch}` : ""}`);
    const open = `  <testcase classname="lifecycle.${xml(c.machine)}" name="${name}" time="${seconds(c)}"`;
    const detail = xml(c.output ? `${c.message}\n\n${c.output}` : c.message);
    if (c.status === "failed") return `${open}>\n    <failure message="${xml(c.message)}">${detail}</failure>\n  </testcase>`;
    if (c.status === "broken") return `${open}>\n    <error message="${xml(c.message)}">${detail}</error>\n  </testcase>`;
    if (c.status === "skipped") return `${open}>\n    <skipped/>\n  </testcase>`;
    return `${open}/>`;
  });
  return [
    '<?xml version="1.0" encoding="UTF-8"?>',
    `<testsuite name="lifecycle" tests="${cases.length}" failures="${count("failed")}" errors="${count("broken")}" skipped="${count("skipped")}">`,
    ...body,
    "</testsuite>",
    "",
  ].join("\n");
}

export function writeLifecycleJunit(file: string, cases: LifecycleCase[]): void {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, lifecycleJunit(cases));
}
