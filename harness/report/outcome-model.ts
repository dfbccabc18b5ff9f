// The one result vocabulary for checks, shared by the suite runner (which reads it back from
// Allure results), the gate (which decides on it) and gate.json. Zod is the source of truth
// because these shapes are written to and read from files.
import { z } from "zod";

/**
 * Allure's statuses: `failed` = an assertion failed (the product is wrong);
 * `broken` = any other error (the lab or harness could not run the check).
 */
/** Allure parameter in which a check records its service answer time (ms), excluded from the history id. */
export const LATENCY_PARAMETER = "latencyMs";
/** Allure parameter numbering a check's attempts when it was retried (excluded from the history id). */
export const ATTEMPT_PARAMETER = "attempt";

export const TestStatus = z.enum(["passed", "failed", "broken", "skipped"]);
export type TestStatus = z.infer<typeof TestStatus>;

export const TestOutcome = z
  .object({
    name: z.string().min(1).describe("full title: describe blocks and test title joined with ' > '"),
    status: TestStatus,
    message: z.string().optional(),
    durationMs: z.number().nonnegative(),
    latencyMs: z
      .number()
      .nonnegative()
      .optional()
      .describe("how long the service took to answer (not the harness's own overhead)"),
    attempts: z
      .array(
        z
          .object({ status: TestStatus, message: z.string().optional(), durationMs: z.number().nonnegative().optional() })
          .strict(),
      )
      .optional()
      .describe("earlier attempts, oldest first (absent: first try); a failed check is retried once"),
  })
  .strict();
export type TestOutcome = z.infer<typeof TestOutcome>;

export const SuiteRunResult = z
  .object({
    suite: z.string().min(1),
    tests: z.array(TestOutcome),
    crashed: z.boolean().describe("the suite process crashed, timed out or wrote no result"),
    detail: z.string(),
  })
  .strict();
export type SuiteRunResult = z.infer<typeof SuiteRunResult>;
