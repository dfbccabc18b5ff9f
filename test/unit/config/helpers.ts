// Shared by the config tests: where fixtures live and how to catch ConfigErrors.
import path from "node:path";
import { fileURLToPath } from "node:url";
import { expect } from "chai";
import { ConfigErrors } from "../../../harness/core/errors.ts";
import { LocatedConfigError } from "../../../harness/config/problem.ts";

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../..");
export const fixtures = path.join(repoRoot, "test/fixtures/config");
/** A stand-in lab-config/ with image dirs, so tests do not depend on the real recipes. */
export const fixtureRoot = path.join(fixtures, "root");
export const fixture = (...parts: string[]) => path.join(fixtures, ...parts);

/** Await a load that must fail; return its errors (all located). */
export async function configErrorsOf(load: Promise<unknown>): Promise<LocatedConfigError[]> {
  let caught: unknown;
  try {
    await load;
  } catch (err) {
    caught = err;
  }
  expect(caught, "expected the load to throw ConfigErrors").to.be.instanceOf(ConfigErrors);
  const errors = (caught as ConfigErrors).errors;
  expect(errors).to.not.be.empty;
  for (const e of errors) expect(e).to.be.instanceOf(LocatedConfigError);
  return errors as LocatedConfigError[];
}

/** The one error of a fixture that must have exactly one problem. */
export async function onlyErrorOf(load: Promise<unknown>): Promise<LocatedConfigError> {
  const errors = await configErrorsOf(load);
  expect(errors.map((e) => e.message), "expected exactly one problem").to.have.length(1);
  return errors[0]!;
}
