// The patchlab command line. Commands only: parsing, printing, exit codes. Logic lives in
// harness/commands/ and below.
import fs from "node:fs";
import path from "node:path";
import { Command, CommanderError, InvalidArgumentError } from "commander";
import { repoRoot } from "./core/paths.ts";
import { asPatchlabError, ExitCode } from "./core/errors.ts";
import { say } from "./core/log.ts";
import { requestInterrupt } from "./core/interrupt.ts";
import { redactOutput } from "./core/redact.ts";
import { parseCount, parseIdempotence, parseSeconds, parseSoak } from "./config/cli-args.ts";
import type { MachineStatus } from "./lab/types.ts";

// Command modules load on first use: `patchlab --help` and `--version` need none of them, and
// each command pays only for what it uses (the bundle keeps them in separate chunks).
const load = {
  doctor: () => import("./doctor.ts"),
  lab: () => import("./commands/lab.ts"),
  run: () => import("./commands/run.ts"),
  gate: () => import("./commands/gate.ts"),
  demo: () => import("./commands/demo.ts"),
  report: () => import("./commands/report.ts"),
  verify: () => import("./commands/verify.ts"),
  loader: () => import("./config/loader.ts"),
  schemas: () => import("./config/schemas.ts"),
};

// Known lab credentials never reach the terminal (error messages, verdicts, --json).
redactOutput();

const program = new Command();
const pkg = JSON.parse(fs.readFileSync(path.join(repoRoot, "package.json"), "utf8")) as { version: string };
program
  .name("patchlab")
  .version(pkg.version, "-V, --version", "print patchlab's version")
  .description("Verify a batch of patches on a lab that resembles production, then gate their deployment.")
  .showHelpAfterError()
  .exitOverride()
  // The results store (issue 10): every command that reads or writes history uses it.
  .option("--store <url>", "results and scan history store: postgres://user:pass@host:port/db (shared by several runners) or a SQLite file (default reports/inventory.sqlite; also PATCHLAB_STORE)")
  .hook("preAction", (cmd) => {
    const store = cmd.opts<{ store?: string }>().store;
    if (store) process.env.PATCHLAB_STORE = store;
  });

const json = (v: unknown) => process.stdout.write(JSON.stringify(v, null, 2) + "\n");

/** Machine health for people or machines; exit 2 when any role is unhealthy. */
async function printStatus(rows: MachineStatus[], asJson: boolean | undefined): Promise<void> {
  if (asJson) json(rows);
  else console.log((await load.lab()).formatStatus(rows));
  if (rows.some((r) => r.health.some((h) => !h.healthy))) process.exitCode = ExitCode.undecided;
}

program
  .command("doctor")
  .description("check (and with --fix, set up) everything patchlab needs: Docker engine, lab images, chromium, java")
  .option("--fix", "install and start what is missing (root on Debian)")
  .option("--lab <lab>", "lab whose images to check", "reference")
  .option("--json", "machine-readable output")
  .action(async (o: { fix?: boolean; lab: string; json?: boolean }) => {
    const { lab } = await (await load.loader()).loadLab(o.lab);
    const { isDockerMachine } = await load.schemas();
    const images = [...new Set(lab.machines.filter(isDockerMachine).map((m) => m.image))];
    const vmImages = [...new Set(lab.machines.flatMap((m) => (m.driver === "vm" ? [m.vm.image] : [])))];
    const reports = await (await load.doctor()).doctor({ fix: !!o.fix, images, vmImages, say });
    if (o.json) json(reports);
    else for (const r of reports) console.log(`${r.ok ? "ok  " : "MISS"} ${r.name.padEnd(14)} ${r.detail}${r.fixed ? " (fixed)" : ""}${r.remedy && !r.ok ? `\n     remedy: ${r.remedy}` : ""}`);
    if (reports.some((r) => !r.ok)) process.exitCode = ExitCode.undecided;
  });

const lab = program.command("lab").description("stand the lab up, inspect it, snapshot and restore it");
const timeout = ["--timeout <seconds>", "deadline for machines to become ready", parseSeconds, 180] as const;

lab
  .command("up [lab]")
  .description("create the lab's network and machines (reusing what is already up) and wait until every role is ready")
  .option(...timeout)
  .option("--json", "machine-readable output")
  .action(async (ref: string | undefined, o: { timeout: number; json?: boolean }) => printStatus(await (await load.lab()).labUp(ref, o.timeout), o.json));

lab
  .command("status [lab]")
  .description("show each machine and whether each of its roles is healthy")
  .option("--json", "machine-readable output")
  .action(async (ref: string | undefined, o: { json?: boolean }) => printStatus(await (await load.lab()).labStatus(ref), o.json));

lab
  .command("down [lab]")
  .description("remove the lab's machines and network")
  .option("--purge", "also delete the lab's snapshots")
  .action(async (ref: string | undefined, o: { purge?: boolean }) => (await load.lab()).labDown(ref, !!o.purge));

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
    const refs = await (await load.lab()).labSnapshot(ref, o.machine, o.label);
    if (o.json) json(refs);
    else for (const r of refs) console.log(`${r.machine.padEnd(8)} ${r.label}  ${r.ref.slice(7, 19)}`);
  });

lab
  .command("snapshots [lab]")
  .description("list the lab's snapshots")
  .option("--json", "machine-readable output")
  .action(async (ref: string | undefined, o: { json?: boolean }) => {
    const refs = await (await load.lab()).labSnapshots(ref);
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
    const rows = await (await load.lab()).labRestore(ref, o.machine, o.label, o.timeout);
    if (o.json) json(rows);
    else for (const r of rows) console.log(`${r.machine.padEnd(8)} restored to ${r.label} in ${r.ms} ms`);
  });

lab
  .command("fingerprint [lab]")
  .description("print a machine's state fingerprint (packages, watched file hashes, listening sockets)")
  .requiredOption("-m, --machine <name>", "machine")
  .action(async (ref: string | undefined, o: { machine: string }) => {
    json(await (await load.lab()).labFingerprint(ref, o.machine));
  });

/** --depth: how much each suite checks (limited: its one smoke check; full: every check). */
const depthOpt = [
  "--depth <depth>",
  "suite depth: limited (each suite's smoke check) or full (every check)",
  (v: string): "limited" | "full" => {
    if (v !== "limited" && v !== "full") throw new InvalidArgumentError(`use limited or full, got "${v}"`);
    return v;
  },
] as const;

program
  .command("run [batch]")
  .description("verify a patch batch on the lab and gate it: exit 0 approved, 1 rejected, 2 undecided, 3 bad input")
  .option("--html", "also generate the Allure HTML report (with history)")
  .option("--keep", "leave an ephemeral lab up after the run")
  .option("--waivers <file>", "waivers file (default: lab-config/waivers.yaml when it exists)")
  .option("--json", "print the decision (gate.json) on stdout instead of the text summary")
  .option("--quiet", "no progress lines (for CI logs): only the verdict")
  .option("--plan <file>", "follow a plan.json from `patchlab plan`: each patch's machines, phases, depth and application checks")
  .option("--history-from <dir>", "with --html: continue the Allure history of a previous report, history dir or run dir (a fresh CI workspace)")
  .option("--isolate", "verify each patch alone (default: a machine's patches are installed together with one restart, and the culprit is searched for by parts when the aggregate fails)")
  .option("--idempotence <policy>", "a patch applied twice must change nothing: reject (default), warn, or off", parseIdempotence, "reject")
  .option("--watch-policy <policy>", "watchers' thresholds and window: a name under lab-config/policies/ or a file (default: watch)")
  .option("--no-watch", "no log, counter and latency watchers (the gate then requires none)")
  .option("--soak <seconds>", "observe this long after install, re-running the limited suites (default: the watch policy's; 0: no soak)", parseSoak)
  .option("--concurrency <n>", "machines worked on at once (default: from the host's cores and memory)", parseCount)
  .option("--resume <run>", "continue a killed run (id or directory) with its batch and options; finished machines keep their results")
  .option(...depthOpt)
  .option(...timeout)
  .action(async (batch: string | undefined, o: { html?: boolean; keep?: boolean; timeout: number; waivers?: string; json?: boolean; quiet?: boolean; plan?: string; isolate?: boolean; historyFrom?: string; concurrency?: number; resume?: string; idempotence: "reject" | "warn" | "off"; watch: boolean; watchPolicy?: string; soak?: number; depth?: "limited" | "full" }) => {
    if (o.quiet) process.env.PATCHLAB_QUIET = "1";
    const d = await (await load.run()).runCommand(batch, {
      html: !!o.html, keep: !!o.keep, timeoutS: o.timeout, mode: o.isolate ? "isolate" : "chain", json: !!o.json,
      ...(o.waivers ? { waiversFile: o.waivers } : {}), ...(o.plan ? { planFile: o.plan } : {}), ...(o.historyFrom ? { historyFrom: o.historyFrom } : {}),
      ...(o.concurrency ? { concurrency: o.concurrency } : {}), ...(o.resume ? { resume: o.resume } : {}), idempotence: o.idempotence,
      ...(o.watch === false ? { watch: false as const } : o.watchPolicy ? { watch: o.watchPolicy } : {}), ...(o.soak !== undefined ? { soakSeconds: o.soak } : {}),
      ...(o.depth ? { depth: o.depth } : {}),
    });
    process.exitCode = d.exitCode;
  });

program
  .command("verify [lab]")
  .description("run the suites against the live lab with no patch (a smoke test): exit 0 all passed, 1 a check failed, 2 a check broken")
  .option("-m, --machine <name...>", "only these machines (default: all)")
  .option("--suite <name>", "only this suite: dns, roles/dns, dokuwiki, apps/dokuwiki/<name>")
  .option(...depthOpt, "full")
  .action(async (ref: string | undefined, o: { machine?: string[]; suite?: string; depth: "limited" | "full" }) => {
    const { verifyLab, formatVerify } = await load.verify();
    const r = await verifyLab(ref, { depth: o.depth, ...(o.machine ? { machines: o.machine } : {}), ...(o.suite ? { suite: o.suite } : {}) });
    console.log(formatVerify(r));
    process.exitCode = r.exitCode;
  });

program
  .command("gate [run]")
  .description("re-evaluate a saved run (id, directory or 'latest') with today's waivers, without touching the lab; exit as the gate")
  .option("--waivers <file>", "waivers file (default: lab-config/waivers.yaml when it exists)")
  .option("--check-set <file>", "exit 0 only if this package set (a dir of .debs, a YAML/JSON list, or 'pkg=version' lines) is exactly the approved set")
  .option("--json", "machine-readable output")
  .action(async (run: string | undefined, o: { waivers?: string; checkSet?: string; json?: boolean }) => {
    const r = await (await load.gate()).gateCommand(run, { ...(o.waivers ? { waivers: o.waivers } : {}), ...(o.checkSet ? { checkSet: o.checkSet } : {}) });
    if (o.json) json(r.check ? { decision: r.decision, checkSet: r.check } : r.decision);
    else {
      console.log((await load.run()).formatDecision(r.decision));
      if (r.check) console.log((await load.gate()).checkSetText(r.check));
    }
    process.exitCode = r.check ? (await load.gate()).checkSetExit(r.check) : r.decision.exitCode;
  });

program
  .command("demo")
  .description("the main job on the built-in reference lab: bring it up, verify the demo batch, report and gate")
  .option("--json", "print the decision (gate.json) on stdout instead of the text summary")
  .action(async (o: { json?: boolean }) => {
    await (await load.demo()).demoCommand({ json: !!o.json });
  });

program
  .command("report [run]")
  .description("generate a run's Allure HTML report (default: the newest run), verdicts first, with its batch's history")
  .option("--open", "serve it on 127.0.0.1 and print the URL (until Ctrl-C)")
  .option("--port <port>", "port for --open (default: any free port)", (v: string) => Number(v))
  .option("--single-file", "also write one self-contained HTML file, to mail")
  .option("--history-from <dir>", "continue the trend of a previous allure-report or saved history dir (a fresh CI workspace)")
  .action(async (run: string | undefined, o: { open?: boolean; port?: number; singleFile?: boolean; historyFrom?: string }) => {
    await (await load.report()).reportCommand(run, o);
  });

// catalog, scan, batch, plan (issue 7): logic in harness/commands/{catalog,scan,batch,plan}.ts.
const catalog = program.command("catalog").description("vendor updates: import them from the signed feed, list them");
catalog
  .command("import <vendor> [lab]")
  .description("import the updates of a signed Debian suite that touch packages installed on the lab's machines")
  .option("--suite <suite>", "bookworm-security or bookworm-updates", "bookworm-security")
  .option("--mirror <url>", "archive URL (default deb.debian.org; env PATCHLAB_DEBIAN_[SECURITY_]MIRROR)")
  .option("--from-history", "use the lab's last stored scan inventory instead of the running machines")
  .option("--json", "machine-readable output")
  .action(async (vendor: string, ref: string | undefined, o: { suite: string; mirror?: string; fromHistory?: boolean; json?: boolean }) => {
    const { catalogImport, formatImport } = await import("./commands/catalog.ts");
    const r = await catalogImport(vendor, ref, o);
    if (o.json) json(r);
    else console.log(formatImport(r));
  });
catalog.command("list").description("list the catalog's entries").action(async () => console.log(await (await import("./commands/catalog.ts")).catalogList()));

const scan = program
  .command("scan [lab]")
  .description("for each machine and catalog entry: installed, missing or not applicable (stored in reports/inventory.sqlite)")
  .option(...machineOpt)
  .option("--machines-file <file>", "scan the machines named in this file (one per line)")
  .option("--baseline", "record this scan as the lab's baseline; later scans mark what changed since")
  .option("--json", "machine-readable output")
  .action(async (ref: string | undefined, o: { machine?: string[]; machinesFile?: string; baseline?: boolean; json?: boolean }) => {
    const { scanCommand } = await import("./commands/scan.ts");
    const { formatScan } = await import("./inventory/scan.ts");
    const r = await scanCommand(ref, o);
    if (o.json) json(r);
    else console.log(`${formatScan(r)}
allure results: ${r.allureResults}`);
  });
scan
  .command("history [lab]")
  .description("compliance over time, per machine")
  .option(...machineOpt)
  .option("--json", "machine-readable output")
  .action(async (ref: string | undefined, o: { machine?: string[]; json?: boolean }) => {
    const { formatHistory, scanHistory } = await import("./commands/scan.ts");
    // `scan history -m web --json`: commander hands options the parent `scan` also has to the parent.
    const parent = scan.opts<{ json?: boolean; machine?: string[] }>();
    const rows = await scanHistory(ref, o.machine ?? parent.machine);
    if (o.json || parent.json) json(rows);
    else console.log(formatHistory(rows));
  });
program
  .command("history")
  .description("past runs and their verdicts, per patch, newest first (from the results store: --store or PATCHLAB_STORE)")
  .option("--batch <name>", "only runs of this batch")
  .option("--lab <name>", "only runs on this lab")
  .option("--limit <n>", "at most n runs", parseCount, 20)
  .option("--json", "machine-readable output")
  .action(async (o: { batch?: string; lab?: string; limit: number; json?: boolean }) => {
    const { history, formatRuns } = await import("./store/runs.ts");
    const rows = await history({ ...(o.batch ? { batch: o.batch } : {}), ...(o.lab ? { lab: o.lab } : {}), limit: o.limit });
    if (o.json) json(rows);
    else console.log(formatRuns(rows));
  });
program
  .command("schedule")
  .description("run a command on a schedule, in the foreground")
  .command("scan [lab]")
  .description("scan the lab on a cron schedule until stopped")
  .requiredOption("--cron <expr>", 'cron expression, e.g. "0 3 * * *"')
  .option(...machineOpt)
  .option("--max-runs <n>", "stop after n scans", parseCount)
  .action(async (ref: string | undefined, o: { cron: string; machine?: string[]; maxRuns?: number }) => {
    await (await import("./commands/scan.ts")).scheduleScan(ref, o.cron, o);
  });
program
  .command("installed [lab]")
  .description("the patches detected as installed on a machine (each kind's own detection); default: the last run's batch")
  .requiredOption("-m, --machine <name>", "machine")
  .option("--batch <file...>", "patches of these batches")
  .option("--patch <manifest...>", "these patch manifests")
  .option("--catalog", "the catalog's entries")
  .option("--json", "machine-readable output")
  .action(async (ref: string | undefined, o: { machine: string; batch?: string[]; patch?: string[]; catalog?: boolean; json?: boolean }) => {
    const { formatInstalled, installedCommand } = await import("./commands/installed.ts");
    const r = await installedCommand(ref, o);
    if (o.json) json(r);
    else console.log(formatInstalled(r));
    if (r.rows.some((x) => x.status === "unknown")) process.exitCode = ExitCode.undecided;
  });
const batchCmd = program.command("batch").description("write batches");
batchCmd
  .command("from-scan [lab]")
  .description("write a batch of the updates the lab's last scan found missing")
  .option("--severity <levels...>", "only these severities (critical important moderate low)")
  .option("-o, --output <file>", "batch file to write (default lab-config/batches/<lab>-missing.yaml)")
  .option("--name <name>", "batch name")
  .action(async (ref: string | undefined, o: { severity?: string[]; output?: string; name?: string }) => {
    const r = await (await import("./commands/batch.ts")).batchFromScan(ref, o);
    console.log(r.summary);
  });
program
  .command("plan <batch>")
  .description("categorise each patch by severity x applicability and derive its test phases from the policy")
  .option("--policy <policy>", "policy name (lab-config/policies/<name>.yaml) or file", "default")
  .option("--severity <id=level...>", "override a patch's severity, e.g. DEB-nginx-1.22.1-9_deb12u11=critical")
  .option("-o, --output <dir>", "where to write plan.json and the markdown plan (default reports/plans/<batch>)")
  .option("--json", "machine-readable output")
  .action(async (batch: string, o: { policy: string; severity?: string[]; output?: string; json?: boolean }) => {
    const r = await (await import("./commands/plan.ts")).planCommand(batch, o);
    if (o.json) json(r.plan);
    else console.log(r.text);
  });

program
  .command("watch <target>")
  .description("keep watching running machines (a machine, or every server machine of a lab) against their stored baseline; exit 1 if a finding rejects")
  .option("--lab <lab>", "lab of the machine (default: reference)")
  .option("--for <duration>", "how long to watch (e.g. 2w, 36h, 30m)", "2w")
  .option("--interval <duration>", "time between observation windows (default: the policy's)")
  .option("--record-baseline", "observe one window now and store it as the baseline (before deploying)")
  .option("--window <duration>", "with --record-baseline: window length (default: the policy's)")
  .option("--policy <policy>", "watch policy name or file", "watch")
  .option("--json", "one JSON line per finding")
  .action(async (target: string, o: { lab?: string; for: string; interval?: string; recordBaseline?: boolean; window?: string; policy: string; json?: boolean }) => {
    process.exitCode = await (await import("./commands/watch.ts")).watchCommand(target, o);
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
    // From now on the run's own work refuses to touch the lab: only the reaper below does.
    requestInterrupt();
    const cleanup = async () => {
      const [{ killRunningSuites }, { killAllSuiteWorkers }, { enginesInUse }, { reapEngines }, { ownerToken }] = await Promise.all([
        import("./run/mocha-runner.ts"), import("./run/suite-worker.ts"), import("./lab/drivers/docker-engine.ts"), import("./lab/reaper.ts"), import("./core/owner.ts"),
      ]);
      killRunningSuites();
      killAllSuiteWorkers();
      // Every engine this run used (a lab's site engines too).
      return reapEngines(enginesInUse(), undefined, { owner: ownerToken() });
    };
    cleanup()
      .then((r) => say(`restored ${r.restored.length} machine(s), removed ${r.removedContainers.length} container(s)${r.failed.length ? `; FAILED (the next command retries): ${r.failed.map((f) => `${f.what} ${f.name}: ${f.error}`).join("; ")}` : ""}`))
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
