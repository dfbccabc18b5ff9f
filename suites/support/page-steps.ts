// Browser actions against the service: when the service does not answer or the page lacks
// what a user needs (a navigation times out, a button never appears), that is the product
// failing, recorded as `failed` with what was being done. A browser that crashed or closed
// is the harness's problem and stays `broken`.
import { AssertionError } from "chai";

const HARNESS_TROUBLE = /Target (page, context or browser )?(has been )?closed|Browser has been closed|browser has disconnected|Protocol error/i;

export async function inBrowser<T>(what: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (e) {
    if (e instanceof AssertionError) throw e;
    const message = e instanceof Error ? e.message : String(e);
    if (HARNESS_TROUBLE.test(message)) throw e;
    // Playwright's messages carry a call log after the first line: the first line says it.
    throw new AssertionError(`${what}: ${message.split("\n")[0]}`);
  }
}
