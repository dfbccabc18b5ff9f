// What a suite process needs to know about the lab, handed over as one JSON file whose path
// travels in PATCHLAB_SUITE_CONTEXT. A file (not argv/env fields) keeps the contract typed
// and lets a person re-run a failed suite by hand with the very same context.
import fs from "node:fs";
import path from "node:path";
import { z } from "zod";
import { ServerRole } from "../config/schemas.ts";

export const SUITE_CONTEXT_ENV = "PATCHLAB_SUITE_CONTEXT";
/** JSON object of Allure parameters the suite process puts on every test (suites/support/allure-hooks.ts). */
export const SUITE_PARAMETERS_ENV = "PATCHLAB_ALLURE_PARAMETERS";
/** File the suite process writes once mocha has finished normally; absent = the process died. */
export const SUITE_DONE_ENV = "PATCHLAB_SUITE_DONE_FILE";

/** When suites run in a patch's lifecycle. Install/uninstall themselves are steps, not phases. */
export const Phase = z.enum(["baseline", "post-install", "post-uninstall"]);
export type Phase = z.infer<typeof Phase>;

export const SuiteMachine = z
  .object({
    container: z.string().min(1).describe("engine-side container name"),
    ip: z.ipv4(),
    fqdn: z.string().min(1),
    roles: z.array(ServerRole).min(1),
  })
  .strict();
export type SuiteMachine = z.infer<typeof SuiteMachine>;

export const SuiteContext = z
  .object({
    runId: z.string().min(1),
    phase: Phase,
    patches: z.array(z.string().min(1)).describe("patch ids installed (or about to be) in this batch"),
    lab: z
      .object({ name: z.string().min(1), domain: z.string().min(1), subnet: z.cidrv4() })
      .strict(),
    target: SuiteMachine.extend({ name: z.string().min(1) }).strict().describe("the machine under test"),
    machines: z.record(z.string(), SuiteMachine).describe("every lab machine by name"),
    client: z
      .object({ name: z.string().min(1), container: z.string().min(1) })
      .strict()
      .describe("the machine suites run their commands on"),
    caCertPath: z.string().min(1).describe("host path of the lab CA PEM"),
  })
  .strict();
export type SuiteContext = z.infer<typeof SuiteContext>;

/** Validates and writes the context; returns the path to put in PATCHLAB_SUITE_CONTEXT. */
export function writeSuiteContext(file: string, context: SuiteContext): string {
  const parsed = SuiteContext.parse(context);
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, JSON.stringify(parsed, null, 2) + "\n");
  return file;
}

/**
 * Parses a context read from `source`. Throws a plain Error on purpose: inside a suite this
 * is "the harness could not run the check" and must be recorded as broken, never failed.
 */
export function parseSuiteContext(raw: unknown, source: string): SuiteContext {
  const r = SuiteContext.safeParse(raw);
  if (r.success) return r.data;
  const problems = r.error.issues.map((i) => `${i.path.join(".") || "(root)"}: ${i.message}`).join("; ");
  throw new Error(`suite context ${source} is invalid: ${problems}`);
}
