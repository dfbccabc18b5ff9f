// Which suites check a machine, from the lab file alone: each server role brings its role
// suite (suites/roles/<role>.spec.ts) and each entry of `applications:` its app suites
// (suites/apps/<app>/*.spec.ts). A role or application without a suite would leave its
// patches forever "needs review", so the lab loader rejects it up front (checkLabSuites).
import fs from "node:fs";
import path from "node:path";
import type { ConfigError } from "../core/errors.ts";
import { repoRoot } from "../core/paths.ts";
import { Application, ServerRole, type Machine } from "../config/schemas.ts";
import { problemAt } from "../config/problem.ts";
import { displayPath, type YamlSource } from "../config/yaml-source.ts";
import type { Depth } from "./suite-context.ts";

export type { Depth } from "./suite-context.ts";

/**
 * Roles that are part of the lab's machinery rather than machines patches are verified on:
 * they need no suite. (The client is a user's computer, patched too: roles/client checks it.)
 */
export const ROLES_WITHOUT_SUITE: Readonly<Record<string, string>> = {
  updates: "the update server is the lab's own patch repository, not a service patches are verified on",
};

export interface SuitesForOptions {
  /** Passed on to the suites (SuiteContext.depth); the list of suites does not depend on it. */
  depth: Depth;
  /** Whether the machine's application (line-of-business) suites are required. */
  applications: boolean;
}

/** Root of the suites; PATCHLAB_SUITES_DIR points elsewhere (self-tests). */
export function suitesRoot(): string {
  return path.resolve(process.env.PATCHLAB_SUITES_DIR ?? path.join(repoRoot, "suites"));
}

/** "roles/<role>" when suites/roles/<role>.spec.ts exists. */
export function roleSuite(role: string): string | undefined {
  return fs.existsSync(path.join(suitesRoot(), "roles", `${role}.spec.ts`)) ? `roles/${role}` : undefined;
}

/** "apps/<app>/<name>" for every suites/apps/<app>/<name>.spec.ts, sorted. */
export function appSuites(app: string): string[] {
  let files: string[];
  try {
    files = fs.readdirSync(path.join(suitesRoot(), "apps", app));
  } catch {
    return [];
  }
  return files
    .filter((f) => f.endsWith(".spec.ts"))
    .sort()
    .map((f) => `apps/${app}/${f.slice(0, -".spec.ts".length)}`);
}

/**
 * The suites a machine gets: one per role (but the roles in ROLES_WITHOUT_SUITE), then, when
 * applications are required, every suite of every application it hosts, then the lab file's
 * extra suites for the machine (`suites:`, spec paths). A role or application without a suite
 * is a ConfigError at lab load, so it is not silently dropped here.
 */
export function suitesFor(machine: { spec: Pick<Machine, "roles" | "applications"> & { suites?: string[] } }, opts: SuitesForOptions): string[] {
  const out: string[] = [];
  for (const role of machine.spec.roles) {
    if (role in ROLES_WITHOUT_SUITE) continue;
    const s = roleSuite(role);
    if (s) out.push(s);
  }
  if (opts.applications) for (const app of machine.spec.applications ?? []) out.push(...appSuites(app));
  out.push(...(machine.spec.suites ?? []));
  return out;
}

/**
 * Lab-file check: every role a machine plays and every application it hosts must have a
 * suite. Runs on the raw document (see config/lab-checks.ts) so it reports with the others.
 */
export function checkLabSuites(source: YamlSource, data: unknown): ConfigError[] {
  const machines = isRecord(data) && Array.isArray(data["machines"]) ? data["machines"] : [];
  const root = displayPath(suitesRoot());
  const out: ConfigError[] = [];
  machines.forEach((m: unknown, i: number) => {
    if (!isRecord(m)) return;
    const who = typeof m["name"] === "string" ? `machine '${m["name"]}'` : `machines[${i}]`;
    const roles = Array.isArray(m["roles"]) ? m["roles"] : [];
    roles.forEach((role: unknown, j: number) => {
      // Unknown roles are the schema's to report.
      if (!ServerRole.safeParse(role).success || (role as string) in ROLES_WITHOUT_SUITE || roleSuite(role as string)) return;
      out.push(
        problemAt(
          source,
          ["machines", i, "roles", j],
          `${who} plays role "${role}", which has no suite (${root}/roles/${role}.spec.ts does not exist): its patches could never be verified`,
          `write ${root}/roles/${role}.spec.ts (see ${root}/README.md), or remove the role from the machine`,
          { omitValue: true },
        ),
      );
    });
    const apps = Array.isArray(m["applications"]) ? m["applications"] : [];
    apps.forEach((app: unknown, j: number) => {
      if (!Application.safeParse(app).success || appSuites(app as string).length > 0) return;
      out.push(
        problemAt(
          source,
          ["machines", i, "applications", j],
          `${who} hosts application "${app}", which has no suite (no ${root}/apps/${app}/*.spec.ts): it could never be checked`,
          `write a suite ${root}/apps/${app}/<name>.spec.ts (see ${root}/README.md), or remove the application from the machine`,
          { omitValue: true },
        ),
      );
    });
  });
  return out;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === "object" && !Array.isArray(v);
}
