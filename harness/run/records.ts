// reports/<run>/records.jsonl: every step, suite result and blame of a run, one JSON line each,
// appended (and flushed to disk) the moment it is known. It is what the gate decides on, so a
// killed run keeps all it had verified and `run --resume` can continue from it. A torn last
// line (the process died mid-write) is ignored, never misread.
import fs from "node:fs";
import path from "node:path";
import { z } from "zod";
import { SuiteRunResult } from "../report/outcome-model.ts";
import type { Blame, Note, StepRecord, SuiteRecord, WatchRecord } from "./machine-pipeline.ts";

export const RECORDS_FILE = "records.jsonl";

const scope = { machine: z.string().min(1), patch: z.string().optional(), group: z.array(z.string()).optional() };
const Step = z.object({ type: z.literal("step"), ...scope, step: z.enum(["install", "restart", "idempotence", "uninstall", "residue", "restore", "pipeline"]), status: z.enum(["passed", "failed", "broken", "skipped"]), message: z.string(), output: z.string().optional(), start: z.number(), stop: z.number() }).strict();
const Suite = z.object({ type: z.literal("suite"), ...scope, phase: z.enum(["baseline", "post-install", "post-uninstall"]), result: SuiteRunResult }).strict();
const BlameLine = z.object({ type: z.literal("blame"), machine: z.string().min(1), group: z.array(z.string()), culprits: z.array(z.string()), message: z.string() }).strict();
const WatchLine = z.object({
  type: z.literal("watch"),
  ...scope,
  phase: z.enum(["baseline", "post-install", "soak", "post-uninstall"]),
  result: z.object({ name: z.string(), machine: z.string(), phase: z.string(), findings: z.array(z.object({ watcher: z.string(), severity: z.enum(["info", "warning", "error"]), title: z.string(), message: z.string(), rejects: z.boolean() }).passthrough()), error: z.string().optional(), note: z.string().optional() }).strict(),
}).strict();
const NoteLine = z.object({ type: z.literal("note"), machine: z.string().min(1), patches: z.array(z.string()), message: z.string() }).strict();
export const RecordLine = z.discriminatedUnion("type", [Step, Suite, BlameLine, NoteLine, WatchLine]);
export type RecordLine = z.infer<typeof RecordLine>;

export interface RunRecords {
  steps: StepRecord[];
  suites: SuiteRecord[];
  blames: Blame[];
  notes: Note[];
  watches: WatchRecord[];
}

export class RecordsFile {
  readonly file: string;
  private fd: number;

  /** Starts the file with `kept` (a resume keeps what finished machines recorded), or empty. */
  constructor(runDir: string, kept: RunRecords = { steps: [], suites: [], blames: [], notes: [], watches: [] }) {
    this.file = path.join(runDir, RECORDS_FILE);
    fs.mkdirSync(runDir, { recursive: true });
    const lines = [
      ...kept.steps.map((s) => ({ type: "step" as const, ...s })),
      ...kept.suites.map((s) => ({ type: "suite" as const, ...s })),
      ...kept.blames.map((b) => ({ type: "blame" as const, ...b })),
      ...kept.notes.map((n) => ({ type: "note" as const, ...n })),
      ...kept.watches.map((w) => ({ type: "watch" as const, ...w })),
    ].map((l) => JSON.stringify(RecordLine.parse(l)) + "\n");
    const tmp = `${this.file}.${process.pid}.tmp`;
    fs.writeFileSync(tmp, lines.join(""));
    fs.renameSync(tmp, this.file);
    this.fd = fs.openSync(this.file, "a");
  }

  append(line: RecordLine | (RecordLine & { attachments?: unknown })): void {
    // Attachments (state diffs, installer output) go to the report, not into the record of what happened.
    const { attachments: _evidence, ...rest } = line as RecordLine & { attachments?: unknown };
    fs.writeSync(this.fd, JSON.stringify(RecordLine.parse(rest)) + "\n");
    fs.fsyncSync(this.fd);
  }

  close(): void {
    fs.closeSync(this.fd);
  }
}

/** Everything a run recorded; lines that do not parse (a torn write) are left out. */
export function readRecords(runDir: string): RunRecords {
  const out: RunRecords = { steps: [], suites: [], blames: [], notes: [], watches: [] };
  const file = path.join(runDir, RECORDS_FILE);
  if (!fs.existsSync(file)) return out;
  for (const raw of fs.readFileSync(file, "utf8").split("\n")) {
    if (!raw.trim()) continue;
    let json: unknown;
    try {
      json = JSON.parse(raw);
    } catch {
      continue;
    }
    const r = RecordLine.safeParse(json);
    if (!r.success) continue;
    const { type, ...rest } = r.data;
    if (type === "step") out.steps.push(rest as StepRecord);
    else if (type === "suite") out.suites.push(rest as SuiteRecord);
    else if (type === "blame") out.blames.push(rest as Blame);
    else if (type === "watch") out.watches.push(rest as unknown as WatchRecord);
    else out.notes.push(rest as Note);
  }
  return out;
}

/** Machines whose pipeline finished (passed or aborted-and-restored): a resume keeps their records. */
export function finishedMachines(r: RunRecords): Set<string> {
  return new Set(r.steps.filter((s) => s.step === "pipeline" && s.patch === undefined && s.group === undefined).map((s) => s.machine));
}

/** Only the records of the given machines (a resume drops what unfinished machines half-did). */
export function recordsOf(r: RunRecords, machines: Set<string>): RunRecords {
  return { steps: r.steps.filter((s) => machines.has(s.machine)), suites: r.suites.filter((s) => machines.has(s.machine)), blames: r.blames.filter((b) => machines.has(b.machine)), notes: r.notes.filter((n) => machines.has(n.machine)), watches: r.watches.filter((w) => machines.has(w.machine)) };
}
