// Structured logs: one JSON-lines file per machine (and one for the run) so a reviewer
// can read what happened on web-01 without the noise of the other five machines.
// Writes are synchronous: a killed harness must not lose the lines that explain why.
import fs from "node:fs";
import path from "node:path";
import { pino, type Logger as PinoLogger } from "pino";
import { redact } from "./redact.ts";

export type Fields = Record<string, unknown>;

export interface Logger {
  debug(msg: string, fields?: Fields): void;
  info(msg: string, fields?: Fields): void;
  warn(msg: string, fields?: Fields): void;
  error(msg: string, fields?: Fields): void;
  /** Where this logger writes, for error remedies ("see reports/<run>/logs/web.log"). */
  readonly file: string | undefined;
}

class PinoAdapter implements Logger {
  constructor(private readonly p: PinoLogger, readonly file: string | undefined) {}
  debug(msg: string, fields: Fields = {}) { this.p.debug(fields, msg); }
  info(msg: string, fields: Fields = {}) { this.p.info(fields, msg); }
  warn(msg: string, fields: Fields = {}) { this.p.warn(fields, msg); }
  error(msg: string, fields: Fields = {}) { this.p.error(fields, msg); }
}

/** A logger that drops everything: for unit tests and commands with no run directory. */
export const nullLogger: Logger = {
  debug() {}, info() {}, warn() {}, error() {}, file: undefined,
};

export function fileLogger(file: string, bindings: Fields = {}): Logger {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const dest = pino.destination({ dest: file, sync: true, append: true });
  // Every line passes the redaction layer: a lab credential never reaches a log file.
  const redacting = { write: (line: string) => dest.write(redact(line)) };
  return new PinoAdapter(pino({ level: process.env.PATCHLAB_LOG_LEVEL ?? "debug", base: bindings }, redacting), file);
}

/** Per-run logs: `<dir>/run.log` and `<dir>/<machine>.log`. */
export class RunLogs {
  private readonly machines = new Map<string, Logger>();
  readonly run: Logger;
  constructor(readonly dir: string, readonly runId: string) {
    this.run = fileLogger(path.join(dir, "run.log"), { run: runId });
  }
  machine(name: string): Logger {
    let l = this.machines.get(name);
    if (!l) {
      l = fileLogger(path.join(this.dir, `${name}.log`), { run: this.runId, machine: name });
      this.machines.set(name, l);
    }
    return l;
  }
}

/** Human progress on stderr (stdout is kept for machine-readable output such as --json). */
export function say(line: string): void {
  if (process.env.PATCHLAB_QUIET === "1") return;
  const t = new Date().toISOString().slice(11, 19);
  process.stderr.write(`[${t}] ${redact(line)}\n`);
}
