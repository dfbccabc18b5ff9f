// Loaded into every suite process with mocha --require (harness/run/mocha-runner.ts).
// - Puts the run's Allure parameters (phase, machine, patch) on every test, so the same
//   check in two phases gets two history ids instead of being folded together as retries.
// - Writes a "done" file when mocha finishes: a process that exits mid-run (process.exit,
//   OOM kill) leaves none, and the runner reports it as crashed instead of trusting the
//   results it happened to write.
import fs from "node:fs";
import { parameter } from "allure-js-commons";
import { SUITE_DONE_ENV, SUITE_PARAMETERS_ENV, SUITE_SHOWN_PARAMETERS_ENV } from "../../harness/run/suite-context.ts";

function parameters(env: string): Record<string, string> {
  const raw = process.env[env];
  if (!raw) return {};
  return JSON.parse(raw) as Record<string, string>;
}

export const mochaHooks = {
  // A root `before all` applies to the root scope, which Allure merges into every test.
  beforeAll: async function patchlabParameters() {
    for (const [name, value] of Object.entries(parameters(SUITE_PARAMETERS_ENV))) await parameter(name, value);
    // Shown but excluded from the history id: a retry must stay the same test in Allure.
    for (const [name, value] of Object.entries(parameters(SUITE_SHOWN_PARAMETERS_ENV))) await parameter(name, value, { excluded: true });
  },
};

export function mochaGlobalTeardown(): void {
  const file = process.env[SUITE_DONE_ENV];
  if (file) fs.writeFileSync(file, new Date().toISOString() + "\n");
}
