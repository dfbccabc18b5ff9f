// Allure labels and parameters patchlab puts on every result, in one place so suite results
// and lifecycle steps group the same way in the report (Suites tab: phase > role > machine;
// Timeline: one lane per machine).
import type { SuiteContext } from "../run/suite-context.ts";

export type Labels = Record<string, string>;

/** Label carrying the id of one runner invocation, so its results can be told apart. */
export const INVOCATION_LABEL = "invocation";

/** Default labels of a suite run; the caller's labels override these. */
export function suiteLabels(context: SuiteContext, suite: string): Labels {
  return {
    parentSuite: context.phase,
    suite,
    subSuite: context.target.name,
    feature: suite,
    phase: context.phase,
    machine: context.target.name,
    host: context.target.name,
    patch: context.patches.join(","),
    lab: context.lab.name,
    run: context.runId,
  };
}

/**
 * Parameters make Allure's historyId differ per phase/machine/patch: without them the same
 * test run in baseline and post-install would be folded into one result as "retries".
 */
export function suiteParameters(context: SuiteContext): Labels {
  return { phase: context.phase, machine: context.target.name, patch: context.patches.join(",") };
}
