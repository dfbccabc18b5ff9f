// How suites declare their checks. `smoke` is the one fast check a suite runs at every depth;
// `check` runs only at depth `full`. Both time the service: helpers that talk to a service
// (httpGet, dig, psql, smbclient, ssh, the browser) report how long the service took to
// answer with `serviceTime`, and the check records the total as the Allure parameter
// "latencyMs" (excluded from the history id, so it never splits a check's history).
import { parameter } from "allure-js-commons";
import { LATENCY_PARAMETER } from "../../harness/report/outcome-model.ts";
import { suiteContext, type SuiteContext } from "./context.ts";

type CheckFn = (this: Mocha.Context) => Promise<void> | void;

let current: { ms: number; answers: number } | undefined;

/**
 * Adds `ms` of service answer time to the running check. Measure only the service's part
 * (a tool's own timer, or a clock read on the client around the call), never the harness's
 * overhead of reaching the client.
 */
export function serviceTime(ms: number): void {
  if (current && Number.isFinite(ms) && ms >= 0) {
    current.ms += ms;
    current.answers++;
  }
}

/** The depth this suite runs at; `full` when there is no context (the checks then report it as broken). */
export function depth(): SuiteContext["depth"] {
  try {
    return suiteContext().depth ?? "full";
  } catch {
    return "full";
  }
}

function register(title: string, fn: CheckFn): void {
  it(title, async function () {
    current = { ms: 0, answers: 0 };
    try {
      await fn.call(this);
    } finally {
      const t = current;
      current = undefined;
      if (t.answers > 0) await parameter(LATENCY_PARAMETER, t.ms.toFixed(1), { excluded: true });
    }
  });
}

/** A check run at every depth: the suite's one fast smoke check. */
export function smoke(title: string, fn: CheckFn): void {
  register(title, fn);
}

/** A check run at depth `full` only (at `limited` it is not registered at all, not skipped). */
export function check(title: string, fn: CheckFn): void {
  if (depth() === "full") register(title, fn);
}
