// junit/gate.xml: the gate's view for CI tools that only read JUnit. One test suite per
// patch, one test case per required result, named "<patch> <machine>/<phase> <item>", plus
// the verdict itself: a rejected patch fails, an undecided one errors.
import fs from "node:fs";
import path from "node:path";
import type { Decision, GateInput, Reason } from "../gate/schema.ts";

const xml = (s: string) =>
  s.replace(/[<>&"']/g, (c) => ({ "<": "&lt;", ">": "&gt;", "&": "&amp;", '"': "&quot;", "'": "&apos;" })[c]!).replace(/[\u0000-\u0008\u000B\u000C\u000E-\u001F]/g, "");

interface Case { name: string; classname: string; failure?: string; error?: string; skipped?: string }

export function gateJunit(decision: Decision, input: GateInput): string {
  const suites: string[] = [];
  for (const p of decision.patches) {
    const cases: Case[] = [];
    const classname = `patchlab.${p.patch}`;
    const verdictCase: Case = { name: `${p.patch} verdict`, classname };
    if (p.verdict === "rejected") verdictCase.failure = `rejected: ${p.reasons.filter((r) => r.effect === "rejects").map((r) => `${r.machine}/${r.phase} ${r.check}`).join("; ")}`;
    else if (p.verdict === "needs-review") verdictCase.error = `needs review: ${p.reasons.filter((r) => r.effect === "undecided").map((r) => `${r.machine}/${r.phase} ${r.check} (${r.outcome})`).slice(0, 10).join("; ")}`;
    else if (p.verdict === "not-applicable") verdictCase.skipped = p.notes[0] ?? "not applicable";
    cases.push(verdictCase);
    const required = input.patches.find((x) => x.patch === p.patch)?.required ?? [];
    for (const r of required) {
      const item = r.kind === "step" ? r.name : `${r.kind} ${r.name}`;
      const c: Case = { name: `${p.patch} ${r.machine}/${r.phase} ${item}`, classname: `${classname}.${r.machine}` };
      const mine = p.reasons.filter((x) => x.machine === r.machine && x.phase === r.phase && x.kind === r.kind && (x.kind === "step" ? x.check === r.name : x.suite === r.name || x.check === `${r.name} suite` || x.check.startsWith(`${r.name}:`)));
      const text = (rs: Reason[]) => rs.map((x) => `${x.check}: ${x.outcome}${x.message ? ` — ${x.message}` : ""}`).join("\n");
      const rejects = mine.filter((x) => x.effect === "rejects");
      const undecided = mine.filter((x) => x.effect === "undecided");
      if (rejects.length) c.failure = text(rejects);
      else if (undecided.length) c.error = text(undecided);
      cases.push(c);
    }
    const count = (k: keyof Case) => cases.filter((c) => c[k] !== undefined).length;
    const body = cases.map((c) => {
      const open = `    <testcase classname="${xml(c.classname)}" name="${xml(c.name)}" time="0"`;
      if (c.failure !== undefined) return `${open}>\n      <failure message="${xml(c.failure.split("\n")[0]!.slice(0, 300))}">${xml(c.failure)}</failure>\n    </testcase>`;
      if (c.error !== undefined) return `${open}>\n      <error message="${xml(c.error.split("\n")[0]!.slice(0, 300))}">${xml(c.error)}</error>\n    </testcase>`;
      if (c.skipped !== undefined) return `${open}>\n      <skipped message="${xml(c.skipped)}"/>\n    </testcase>`;
      return `${open}/>`;
    });
    suites.push(`  <testsuite name="${xml(`gate ${p.patch}`)}" tests="${cases.length}" failures="${count("failure")}" errors="${count("error")}" skipped="${count("skipped")}">\n${body.join("\n")}\n  </testsuite>`);
  }
  return `<?xml version="1.0" encoding="UTF-8"?>\n<testsuites name="patchlab gate">\n${suites.join("\n")}\n</testsuites>\n`;
}

export function writeGateJunit(file: string, decision: Decision, input: GateInput): void {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, gateJunit(decision, input));
}
