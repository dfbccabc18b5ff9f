// What a suite process needs to know about the lab, handed over as one JSON file whose path
// travels in PATCHLAB_SUITE_CONTEXT. A file (not argv/env fields) keeps the contract typed
// and lets a person re-run a failed suite by hand with the very same context.
import fs from "node:fs";
import path from "node:path";
import { z } from "zod";
import { ServerRole, type Lab, type Machine } from "../config/schemas.ts";
import { LabError } from "../core/errors.ts";
import { engineAddress, engineOf, type EngineAddress } from "../lab/drivers/docker-engines.ts";

export const SUITE_CONTEXT_ENV = "PATCHLAB_SUITE_CONTEXT";
/** JSON object of Allure parameters the suite process puts on every test (suites/support/allure-hooks.ts). */
export const SUITE_PARAMETERS_ENV = "PATCHLAB_ALLURE_PARAMETERS";
/** Like SUITE_PARAMETERS_ENV, but shown only: excluded from the history id (e.g. the attempt number). */
export const SUITE_SHOWN_PARAMETERS_ENV = "PATCHLAB_ALLURE_SHOWN_PARAMETERS";
/** File the suite process writes once mocha has finished normally; absent = the process died. */
export const SUITE_DONE_ENV = "PATCHLAB_SUITE_DONE_FILE";

/** When suites run in a patch's lifecycle. Install/uninstall themselves are steps, not phases. */
export const Phase = z.enum(["baseline", "post-install", "post-uninstall"]);
export type Phase = z.infer<typeof Phase>;

/**
 * How much a suite checks: `limited` runs each suite's one fast smoke check, `full` every
 * check. Chosen per run (--depth) or per patch by the plan.
 */
export const Depth = z.enum(["limited", "full"]);
export type Depth = z.infer<typeof Depth>;

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
    depth: Depth.optional().describe("limited: each suite's smoke check only; full (also when absent): every check"),
    patches: z.array(z.string().min(1)).describe("patch ids installed (or about to be) in this batch"),
    lab: z
      .object({ name: z.string().min(1), domain: z.string().min(1), subnet: z.cidrv4() })
      .strict(),
    target: SuiteMachine.extend({ name: z.string().min(1) }).strict().describe("the machine under test"),
    machines: z.record(z.string(), SuiteMachine).describe("every lab machine by name"),
    client: z
      .object({
        name: z.string().min(1),
        container: z.string().min(1),
        engine: z
          .object({ url: z.string().min(1), tls: z.object({ ca: z.string(), cert: z.string(), key: z.string() }).strict().optional() })
          .strict()
          .optional()
          .describe("the Docker engine the client runs on, when not the default one (a site engine)"),
      })
      .strict()
      .describe("the machine suites run their commands on: a client on the target's own engine"),
    caCertPath: z.string().min(1).describe("host path of the lab CA PEM"),
  })
  .strict();
export type SuiteContext = z.infer<typeof SuiteContext>;
/** What callers may hand in: fields with a default (depth) may be left out. */
export type SuiteContextInput = z.input<typeof SuiteContext>;

/** Validates and writes the context; returns the path to put in PATCHLAB_SUITE_CONTEXT. */
export function writeSuiteContext(file: string, context: SuiteContextInput): string {
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

/** The machines a context describes, as the lab driver knows them. */
interface HandleLike {
  spec: Machine;
  lab: Lab;
  container: string;
  ip: string;
  fqdn: string;
}

/**
 * The client suites probe `target` from: one on the target's own engine, since lab networks are
 * internal and nothing routes between engines (the lab checks refuse an engine with servers and
 * no client). VMs and servers sit on the default engine's network.
 */
export function clientFor<T extends HandleLike>(target: T, all: readonly T[]): { client: T; engine: EngineAddress | undefined } | undefined {
  const engine = engineOf(target.lab, target.spec);
  // A client under test is its own vantage point: its suite checks what its user sees from it.
  const client = target.spec.roles.includes("client") ? target : all.find((m) => m.spec.roles.includes("client") && engineOf(m.lab, m.spec).key === engine.key);
  return client ? { client, engine: engineAddress(engine) } : undefined;
}

/** A context whose client is the one on the target's engine (what a run hands each suite process). */
export function withTargetClient<T extends HandleLike>(ctx: SuiteContext, target: T, all: readonly T[]): SuiteContext {
  const c = clientFor(target, all);
  if (!c) throw new LabError("harness", `no client machine on the engine of ${target.spec.name} in lab ${target.lab.name}`, "add a machine with role client on the same site (engine)");
  return { ...ctx, client: { name: c.client.spec.name, container: c.client.container, ...(c.engine ? { engine: c.engine } : {}) } };
}

/** A suite context for `target` in a lab whose machines are `all`; throws when the lab has no client. */
export function buildSuiteContext(o: {
  runId: string;
  phase: Phase;
  depth: Depth;
  patches: string[];
  target: HandleLike;
  all: HandleLike[];
  caCertPath: string;
}): SuiteContext {
  const found = clientFor(o.target, o.all);
  if (!found) throw new Error(`lab ${o.target.lab.name} has no client machine on the engine of ${o.target.spec.name}: suites need one to run from`);
  const client = found.client;
  const toSuite = (m: HandleLike) => ({ container: m.container, ip: m.ip, fqdn: m.fqdn, roles: m.spec.roles });
  return SuiteContext.parse({
    runId: o.runId,
    phase: o.phase,
    depth: o.depth,
    patches: o.patches,
    lab: { name: o.target.lab.name, domain: o.target.lab.domain, subnet: o.target.lab.network.subnet },
    target: { name: o.target.spec.name, ...toSuite(o.target) },
    machines: Object.fromEntries(o.all.map((m) => [m.spec.name, toSuite(m)])),
    client: { name: client.spec.name, container: client.container, ...(found.engine ? { engine: found.engine } : {}) },
    caCertPath: o.caCertPath,
  });
}
