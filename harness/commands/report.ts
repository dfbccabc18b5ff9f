// `patchlab report [run] [--open] [--single-file] [--history-from DIR]`: the Allure HTML report of
// a run (default: the newest), with the gate's verdicts first and the batch's history; --open
// serves it on 127.0.0.1 until Ctrl-C (a report opened from file:// never loads its data).
import fs from "node:fs";
import path from "node:path";
import { ConfigError } from "../core/errors.ts";
import { say } from "../core/log.ts";
import { reportsRoot } from "../core/paths.ts";
import { buildHtmlReport, type ReportResult } from "../report/html.ts";
import { serveReport, type ReportServer } from "../report/serve.ts";

export interface ReportCommandOptions {
  open?: boolean;
  singleFile?: boolean;
  historyFrom?: string;
  /** Port for --open (default: any free one). */
  port?: number;
}

/** A run id (a directory under reports/), a path to a run directory, or "latest". */
export function resolveRunDir(ref: string | undefined): string {
  const r = ref ?? "latest";
  const candidates = [path.resolve(r), path.join(reportsRoot(), r)];
  const dir = candidates.find((d) => fs.existsSync(path.join(d, "allure-results")) || fs.existsSync(path.join(d, "gate.json")));
  if (dir) return fs.realpathSync(dir);
  const runs = listRuns();
  throw new ConfigError(
    `no run "${r}": neither ${candidates.join(" nor ")} holds allure-results or gate.json`,
    runs.length ? `pass one of the runs under ${reportsRoot()}: ${runs.slice(-5).join(", ")}${runs.length > 5 ? ", ..." : ""}` : "run a batch first: `patchlab run <batch>`",
    { field: "run", value: r },
  );
}

function listRuns(): string[] {
  try {
    return fs.readdirSync(reportsRoot()).filter((d) => !d.startsWith(".") && d !== "latest" && fs.existsSync(path.join(reportsRoot(), d, "gate.json"))).sort();
  } catch {
    return [];
  }
}

export async function reportCommand(ref: string | undefined, o: ReportCommandOptions): Promise<ReportResult> {
  if (o.port !== undefined && (!Number.isInteger(o.port) || o.port < 0 || o.port > 65535)) {
    throw new ConfigError(`--port ${o.port} is not a TCP port`, "use a number from 1 to 65535, or leave it out for any free port", { field: "--port", value: o.port });
  }
  if (o.historyFrom && !fs.existsSync(o.historyFrom)) {
    throw new ConfigError(`--history-from ${o.historyFrom} does not exist`, "pass a previous allure-report directory, its history/ directory, or a patchlab run directory", { field: "--history-from", value: o.historyFrom });
  }
  const runDir = resolveRunDir(ref);
  const r = await buildHtmlReport(runDir, { ...(o.historyFrom ? { historyFrom: o.historyFrom } : {}), ...(o.singleFile ? { singleFile: true } : {}) });
  const rel = (p: string) => path.relative(process.cwd(), p) || p;
  say(`${r.reportName}`);
  say(`history: ${r.history.source}`);
  console.log(`Allure report: ${rel(r.index)} (generated in ${(r.ms / 1000).toFixed(1)} s)`);
  if (r.singleFile) console.log(`single file: ${rel(r.singleFile)}`);
  if (o.open) await serveUntilStopped(r.dir, o.port ?? 0);
  return r;
}

/** Serves the report on loopback and returns once Ctrl-C (SIGINT) or SIGTERM stops it. */
export async function serveUntilStopped(dir: string, port: number): Promise<void> {
  let server: ReportServer;
  try {
    server = await serveReport(dir, port);
  } catch (e) {
    throw new ConfigError(`cannot serve the report on 127.0.0.1:${port}: ${(e as Error).message}`, "pick another --port, or leave it out for any free port", { field: "--port", value: port });
  }
  console.log(`Serving the report at ${server.url} (Ctrl-C to stop)`);
  await new Promise<never>(() => {
    // Prepended and exiting at once: the CLI's own signal handlers (restore the lab, exit 2) are
    // for commands that touch the lab; this one changed nothing, so Ctrl-C is a normal end.
    const stop = (signal: NodeJS.Signals) => {
      say(`${signal}: report server on ${server.url} stopped`);
      process.exit(0);
    };
    for (const s of ["SIGINT", "SIGTERM"] as const) process.prependListener(s, stop);
  });
}
