// `patchlab verify [lab]`: run the suites against the live lab, with no patch: a smoke test of
// the lab itself, and the way to run one suite by hand while writing it. Results go to
// reports/<id>/ (allure-results, junit, logs) as for a run; nothing is installed or restored.
// Exit 0 every check passed, 1 a check failed, 2 a check was broken or a suite crashed.
import path from "node:path";
import { ConfigError, ExitCode, LabError } from "../core/errors.ts";
import { say } from "../core/log.ts";
import { reportsRoot } from "../core/paths.ts";
import type { MachineHandle } from "../lab/types.ts";
import type { SuiteRunResult } from "../report/outcome-model.ts";
import { runSuite } from "../run/mocha-runner.ts";
import { newRunId } from "../run/run-id.ts";
import { buildSuiteContext, type Depth } from "../run/suite-context.ts";
import { suitesFor } from "../run/suites-for.ts";
import { pickMachines, withLab } from "./lab.ts";

export interface VerifyOptions {
  machines?: string[];
  /** Only suites with this name: "dns", "roles/dns", "dokuwiki" (all its suites) or "apps/dokuwiki/wiki". */
  suite?: string;
  depth: Depth;
  /** Per-suite deadline. */
  suiteTimeoutMs?: number;
}

export interface VerifiedSuite {
  machine: string;
  suite: string;
  result: SuiteRunResult;
  ms: number;
}

export interface VerifyOutcome {
  runId: string;
  runDir: string;
  depth: Depth;
  suites: VerifiedSuite[];
  exitCode: number;
  ms: number;
}

/** Whether suite id `id` ("roles/dns", "apps/dokuwiki/wiki") is meant by the user's `name`. */
export function suiteMatches(id: string, name: string): boolean {
  const n = name.replace(/\.spec\.ts$/, "").replace(/^\/+|\/+$/g, "");
  return id === n || id.endsWith(`/${n}`) || id.startsWith(`${n}/`) || id.startsWith(`apps/${n}/`);
}

/** 1 when a check failed, else 2 when one was broken or a suite crashed, else 0. */
export function verifyExitCode(suites: VerifiedSuite[]): number {
  const tests = suites.flatMap((s) => s.result.tests);
  if (tests.some((t) => t.status === "failed")) return ExitCode.rejected;
  if (suites.some((s) => s.result.crashed) || tests.some((t) => t.status === "broken")) return ExitCode.undecided;
  return ExitCode.approved;
}

export async function verifyLab(ref: string | undefined, o: VerifyOptions): Promise<VerifyOutcome> {
  return withLab(ref, "verify", async (s) => {
    const all = s.machines;
    const targets = pickMachines(s, o.machines);
    const plan: [MachineHandle, string[]][] = targets
      .map((m): [MachineHandle, string[]] => [m, suitesFor(m, { depth: o.depth, applications: true }).filter((id) => !o.suite || suiteMatches(id, o.suite))])
      .filter(([, ids]) => ids.length > 0);
    if (plan.length === 0) {
      const known = [...new Set(targets.flatMap((m) => suitesFor(m, { depth: o.depth, applications: true })))];
      throw new ConfigError(
        o.suite ? `no suite "${o.suite}" on ${o.machines?.length ? `machine(s) ${o.machines.join(", ")}` : `lab ${s.lab.name}`}` : `no machine of lab ${s.lab.name} has a suite`,
        known.length ? `use one of: ${known.join(", ")}` : "give the machines server roles (lab file, `roles:`)",
        { file: s.labFile, field: "--suite", value: o.suite },
      );
    }
    // Suites need their targets and the client running; a stopped lab is the lab's problem.
    const status = await s.driver.status(s.lab);
    const needed = new Set([...plan.map(([m]) => m.spec.name), ...all.filter((m) => m.spec.roles.includes("client")).map((m) => m.spec.name)]);
    const down = status.filter((x) => needed.has(x.machine) && x.state !== "running");
    if (down.length) {
      throw new LabError("machine-start", `lab ${s.lab.name}: ${down.map((x) => `${x.machine} is ${x.state}`).join(", ")}`, `bring the lab up first: \`patchlab lab up ${ref ?? ""}\``.replace(" `", "`").trim());
    }
    const pki = await s.driver.pki(s.lab);
    const runId = newRunId(`verify-${s.lab.name}`);
    const runDir = path.join(reportsRoot(), runId);
    say(`verify ${runId}: ${plan.reduce((n, [, ids]) => n + ids.length, 0)} suite(s) on ${plan.length} machine(s) of lab ${s.lab.name}, depth ${o.depth}`);
    const t0 = Date.now();
    const done: VerifiedSuite[] = [];
    await Promise.all(
      plan.map(async ([m, ids]) => {
        for (const id of ids) {
          const context = buildSuiteContext({ runId, phase: "baseline", depth: o.depth, patches: [], target: m, all, caCertPath: pki.caCertPath });
          const started = Date.now();
          const result = await runSuite({
            suite: id,
            context,
            resultsDir: path.join(runDir, "allure-results"),
            junitFile: path.join(runDir, "junit", `${m.spec.name}-verify-${id.replace(/\W+/g, "_")}.xml`),
            labels: { parentSuite: "verify" },
            timeoutMs: o.suiteTimeoutMs ?? 300_000,
            logFile: path.join(runDir, "logs", `${m.spec.name}.suites.log`),
          });
          const v = { machine: m.spec.name, suite: id, result, ms: Date.now() - started };
          done.push(v);
          say(suiteLine(v));
        }
      }),
    );
    const order = plan.flatMap(([m, ids]) => ids.map((id) => `${m.spec.name} ${id}`));
    done.sort((a, b) => order.indexOf(`${a.machine} ${a.suite}`) - order.indexOf(`${b.machine} ${b.suite}`));
    return { runId, runDir, depth: o.depth, suites: done, exitCode: verifyExitCode(done), ms: Date.now() - t0 };
  });
}

function suiteLine(v: VerifiedSuite): string {
  const n = (st: string) => v.result.tests.filter((t) => t.status === st).length;
  const state = v.result.crashed ? "CRASHED" : n("failed") ? "FAILED" : n("broken") ? "BROKEN" : "ok";
  return `${v.machine}: ${v.suite}: ${state} ${n("passed")}/${v.result.tests.length} passed (${(v.ms / 1000).toFixed(1)} s)`;
}

/** The verdict for people: a line per suite, then every check that did not simply pass. */
export function formatVerify(o: VerifyOutcome): string {
  const lines: string[] = [];
  for (const v of o.suites) {
    lines.push(`  ${suiteLine(v)}`);
    if (v.result.crashed) lines.push(`      suite crashed: ${v.result.detail.split("\n")[0]}`);
    for (const t of v.result.tests) {
      const flaky = t.status === "passed" && (t.attempts ?? []).some((a) => a.status === "failed" || a.status === "broken");
      if (t.status === "passed" && !flaky) continue;
      if (t.status === "skipped") continue;
      const msg = (flaky ? t.attempts!.find((a) => a.status !== "passed")!.message : t.message) ?? "";
      const first = msg.split("\n")[0]!.replace(/: expected .*$/, "");
      lines.push(`      ${flaky ? "FLAKY (passed on retry)" : t.status.toUpperCase()}: ${t.name}${first ? `\n          ${first.slice(0, 300)}` : ""}`);
    }
  }
  const tests = o.suites.flatMap((s) => s.result.tests);
  const n = (st: string) => tests.filter((t) => t.status === st).length;
  const verdict = o.exitCode === 0 ? "all checks passed" : o.exitCode === 1 ? "a check FAILED" : "a check could not run (broken)";
  lines.push("", `${verdict}: ${n("passed")} passed, ${n("failed")} failed, ${n("broken")} broken of ${tests.length} checks in ${o.suites.length} suites, depth ${o.depth}, ${(o.ms / 1000).toFixed(1)} s`);
  lines.push(`results: ${path.relative(process.cwd(), o.runDir) || o.runDir}`);
  return lines.join("\n");
}
