// The patchlab command line. Commands only: parsing, printing, exit codes. Logic lives in
// harness/commands/ and below.
import { Command, CommanderError, InvalidArgumentError } from "commander";
import { asPatchlabError, ExitCode } from "./core/errors.ts";
import { say } from "./core/log.ts";
import { doctor } from "./doctor.ts";
import { formatStatus, labDown, labFingerprint, labRestore, labSnapshot, labSnapshots, labStatus, labUp } from "./commands/lab.ts";
import { runCommand } from "./commands/run.ts";
import { demoCommand } from "./commands/demo.ts";
import { loadLab } from "./config/loader.ts";
import type { MachineStatus } from "./lab/types.ts";
import { killRunningSuites } from "./run/mocha-runner.ts";
import type { Depth } from "./run/suite-context.ts";
import { docker } from "./lab/drivers/docker-engine.ts";
import { DockerDriver } from "./lab/drivers/docker-driver.ts";
import { reap } from "./lab/reaper.ts";
import { ownerToken } from "./core/owner.ts";

const program = new Command();
program
  .name("patchlab")
  .description("Verify a batch of patches on a lab that resembles production, then gate their deployment.")
  .showHelpAfterError()
  .exitOverride();

const json = (v: unknown) => process.stdout.write(JSON.stringify(v, null, 2) + "\n");

/** Machine health for people or machines; exit 2 when any role is unhealthy. */
function printStatus(rows: MachineStatus[], asJson: boolean | undefined): void {
  if (asJson) json(rows);
  else console.log(formatStatus(rows));
  if (rows.some((r) => r.health.some((h) => !h.healthy))) process.exitCode = ExitCode.undecided;
}

program
  .command("doctor")
  .description("check (and with --fix, set up) everything patchlab needs: Docker engine, lab images, chromium, java")
  .option("--fix", "install and start what is missing (root on Debian)")
  .option("--lab <lab>", "lab whose images to check", "reference")
  .option("--json", "machine-readable output")
  .action(async (o: { fix?: boolean; lab: string; json?: boolean }) => {
    const { lab } = await loadLab(o.lab);
    const images = [...new Set(lab.machines.map((m) => m.image))];
    const reports = await doctor({ fix: !!o.fix, images, say });
    if (o.json) json(reports);
    else for (const r of reports) console.log(`${r.ok ? "ok  " : "MISS"} ${r.name.padEnd(14)} ${r.detail}${r.fixed ? " (fixed)" : ""}${r.remedy && !r.ok ? `\n     remedy: ${r.remedy}` : ""}`);
    if (reports.some((r) => !r.ok)) process.exitCode = ExitCode.undecided;
  });

const lab = program.command("lab").description("stand the lab up, inspect it, snapshot and restore it");
const timeout = ["--timeout <seconds>", "deadline for machines to become ready", (v: string) => Number(v), 180] as const;

lab
  .command("up [lab]")
  .description("create the lab's network and machines (reusing what is already up) and wait until every role is ready")
  .option(...timeout)
  .option("--json", "machine-readable output")
  .action(async (ref: string | undefined, o: { timeout: number; json?: boolean }) => printStatus(await labUp(ref, o.timeout), o.json));

lab
  .command("status [lab]")
  .description("show each machine and whether each of its roles is healthy")
  .option("--json", "machine-readable output")
  .action(async (ref: string | undefined, o: { json?: boolean }) => printStatus(await labStatus(ref), o.json));

lab
  .command("down [lab]")
  .description("remove the lab's machines and network")
  .option("--purge", "also delete the lab's snapshots")
  .action(async (ref: string | undefined, o: { purge?: boolean }) => labDown(ref, !!o.purge));

const machineOpt = ["-m, --machine <name...>", "only these machines (default: all)"] as const;

lab
  .command("snapshot [lab]")
  .description("snapshot machines (default: all) under a label")
  .option(...machineOpt)
  .option("-l, --label <label>", "snapshot label", `manual-${new Date().toISOString().replace(/[-:.TZ]/g, "").slice(0, 14)}`)
  .option("--json", "machine-readable output")
  .action(async (ref: string | undefined, o: { machine?: string[]; label: string; json?: boolean }) => {
    if (!/^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,127}$/.test(o.label)) {
      throw new (await import("./core/errors.ts")).ConfigError(`--label "${o.label}" is not a valid snapshot label`, "use letters, digits, '.', '_' and '-' (max 128)", { field: "--label", value: o.label });
    }
    const refs = await labSnapshot(ref, o.machine, o.label);
    if (o.json) json(refs);
    else for (const r of refs) console.log(`${r.machine.padEnd(8)} ${r.label}  ${r.ref.slice(7, 19)}`);
  });

lab
  .command("snapshots [lab]")
  .description("list the lab's snapshots")
  .option("--json", "machine-readable output")
  .action(async (ref: string | undefined, o: { json?: boolean }) => {
    const refs = await labSnapshots(ref);
    if (o.json) json(refs);
    else for (const r of refs) console.log(`${r.machine.padEnd(8)} ${r.label.padEnd(40)} ${r.createdAt}${r.runId ? `  run ${r.runId}` : ""}`);
  });

lab
  .command("restore [lab]")
  .description("restore machines (default: all) to a snapshot (default: each one's newest)")
  .option(...machineOpt)
  .option("-l, --label <label>", "snapshot label")
  .option(...timeout)
  .option("--json", "machine-readable output")
  .action(async (ref: string | undefined, o: { machine?: string[]; label?: string; timeout: number; json?: boolean }) => {
    const rows = await labRestore(ref, o.machine, o.label, o.timeout);
    if (o.json) json(rows);
    else for (const r of rows) console.log(`${r.machine.padEnd(8)} restored to ${r.label} in ${r.ms} ms`);
  });

lab
  .command("fingerprint [lab]")
  .description("print a machine's state fingerprint (packages, watched file hashes, listening sockets)")
  .requiredOption("-m, --machine <name>", "machine")
  .action(async (ref: string | undefined, o: { machine: string }) => {
    json(await labFingerprint(ref, o.machine));
  });

const depthOpt = [
  "--depth <depth>",
  "suite depth: limited (each suite's smoke check) or full (every check)",
  (v: string): Depth => {
    if (v !== "limited" && v !== "full") throw new InvalidArgumentError("use limited or full");
    return v;
  },
  "full" as Depth,
] as const;

program
  .command("run <batch>")
  .description("verify a patch batch on the lab and gate it: exit 0 approved, 1 rejected, 2 undecided, 3 bad input")
  .option("--html", "also generate the Allure HTML report (with history)")
  .option("--keep", "leave an ephemeral lab up after the run")
  .option(...timeout)
  .option(...depthOpt)
  .action(async (batch: string, o: { html?: boolean; keep?: boolean; timeout: number; depth: Depth }) => {
    const d = await runCommand(batch, { html: !!o.html, keep: !!o.keep, timeoutS: o.timeout, depth: o.depth });
    process.exitCode = d.exitCode;
  });

program
  .command("verify [lab]")
  .description("run the suites against the live lab with no patch (a smoke test): exit 0 all passed, 1 a check failed, 2 a check broken")
  .option("-m, --machine <name...>", "only these machines (default: all)")
  .option("--suite <name>", "only this suite: dns, roles/dns, dokuwiki, apps/dokuwiki/<name>")
  .option(...depthOpt)
  .action(async (ref: string | undefined, o: { machine?: string[]; suite?: string; depth: Depth }) => {
    const { verifyLab, formatVerify } = await import("./commands/verify.ts");
    const r = await verifyLab(ref, { depth: o.depth, ...(o.machine ? { machines: o.machine } : {}), ...(o.suite ? { suite: o.suite } : {}) });
    console.log(formatVerify(r));
    process.exitCode = r.exitCode;
  });

program
  .command("demo")
  .description("the main job on the built-in reference lab: bring it up, verify the demo batch, report and gate")
  .action(async () => {
    await demoCommand();
  });

/**
 * Ctrl-C or a CI timeout's SIGTERM: stop the suites, put back what this process changed
 * (restore its machines from their pre-run snapshots, remove a lab it brought up), then
 * exit 2 — the run is undecided. A second signal exits at once; the next command's reaper
 * finishes the job.
 */
let stopping = false;
for (const sig of ["SIGINT", "SIGTERM"] as const) {
  process.on(sig, () => {
    if (stopping) process.exit(130);
    stopping = true;
    say(`${sig}: stopping; putting the lab back as it was`);
    killRunningSuites();
    const d = docker();
    reap(d, new DockerDriver(d), undefined, { owner: ownerToken() })
      .then((r) => say(`restored ${r.restored.length} machine(s), removed ${r.removedContainers.length} container(s)`))
      .catch((e) => say(`cleanup failed (the next patchlab command retries): ${(e as Error).message}`))
      .finally(() => process.exit(ExitCode.undecided));
  });
}

async function main(): Promise<void> {
  try {
    await program.parseAsync(process.argv);
  } catch (e) {
    if (e instanceof CommanderError) {
      process.exitCode = e.exitCode === 0 ? 0 : ExitCode.badInput;
      return;
    }
    const err = asPatchlabError(e);
    process.stderr.write(`\n${err.describe()}\n`);
    if (process.env.PATCHLAB_DEBUG && e instanceof Error) process.stderr.write(`${e.stack}\n`);
    process.exitCode = err.exitCode;
  }
}

await main();
