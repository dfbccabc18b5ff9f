// The lab context of the running suite (written by harness/run/mocha-runner.ts).
// Errors here are plain Errors: a suite without its context could not run its checks, which
// Allure must record as broken, not as a product failure.
import fs from "node:fs";
import { SUITE_CONTEXT_ENV, parseSuiteContext, type SuiteContext } from "../../harness/run/suite-context.ts";

export type { SuiteContext } from "../../harness/run/suite-context.ts";

let cached: SuiteContext | undefined;

export function suiteContext(): SuiteContext {
  if (cached) return cached;
  const file = process.env[SUITE_CONTEXT_ENV];
  if (!file) {
    throw new Error(
      `${SUITE_CONTEXT_ENV} is not set: suites are run by patchlab, which writes their lab context. ` +
        `To run one by hand, write a context JSON (format: harness/run/suite-context.ts) and set ${SUITE_CONTEXT_ENV}=<that file>`,
    );
  }
  let raw: unknown;
  try {
    raw = JSON.parse(fs.readFileSync(file, "utf8"));
  } catch (e) {
    throw new Error(`cannot read the suite context ${file} (${SUITE_CONTEXT_ENV}): ${(e as Error).message}`);
  }
  cached = parseSuiteContext(raw, file);
  return cached;
}

/** The target machine, checked to play `role`: running a role suite elsewhere is a harness bug. */
export function targetWithRole(role: string): SuiteContext["target"] {
  const t = suiteContext().target;
  if (!(t.roles as string[]).includes(role)) {
    throw new Error(`the ${role} suite was started against ${t.name}, which plays ${t.roles.join(", ")}, not ${role}`);
  }
  return t;
}
