// The run journal (reports/<run>/run.json): every step's outcome is written the moment it
// happens (atomically: write a temp file, rename), so a killed run leaves an exact account
// of how far it got, and nothing already recorded is ever lost.
import fs from "node:fs";
import path from "node:path";
import { z } from "zod";

export const StepStatus = z.enum(["started", "passed", "failed", "broken", "skipped"]);
export type StepStatus = z.infer<typeof StepStatus>;

export const JournalStep = z
  .object({
    at: z.string().describe("ISO 8601 time the step's outcome was recorded"),
    machine: z.string().optional(),
    patch: z.string().optional(),
    step: z.string().describe("lab-up, install, uninstall, restart, restore, suite <name> <phase>, ..."),
    status: StepStatus,
    message: z.string().optional(),
    durationMs: z.number().optional(),
  })
  .strict();
export type JournalStep = z.infer<typeof JournalStep>;

export const JournalData = z
  .object({
    runId: z.string(),
    batch: z.string().describe("batch file"),
    lab: z.string(),
    pid: z.number().int(),
    startedAt: z.string(),
    finishedAt: z.string().optional(),
    state: z.enum(["running", "finished", "failed"]).describe("running + no live pid = the run was interrupted"),
    options: z
      .object({
        mode: z.enum(["chain", "isolate"]),
        plan: z.string().optional(),
        waivers: z.string().optional(),
        timeoutS: z.number().positive(),
        html: z.boolean(),
        concurrency: z.number().int().positive().optional(),
      })
      .strict()
      .optional()
      .describe("how the run was started: `run --resume` continues with the same options"),
    resumed: z.array(z.string()).optional().describe("ISO 8601 times the run was resumed"),
    steps: z.array(JournalStep),
  })
  .strict()
  .meta({ title: "patchlab run journal (reports/<run>/run.json)" });
export type JournalData = z.infer<typeof JournalData>;

export class Journal {
  readonly file: string;
  private data: JournalData;

  constructor(dir: string, init: Omit<JournalData, "steps" | "state" | "startedAt" | "pid"> | { resume: JournalData }) {
    this.file = path.join(dir, "run.json");
    this.data =
      "resume" in init
        ? { ...init.resume, pid: process.pid, state: "running", resumed: [...(init.resume.resumed ?? []), new Date().toISOString()] }
        : { ...init, pid: process.pid, startedAt: new Date().toISOString(), state: "running", steps: [] };
    delete this.data.finishedAt;
    this.flush();
  }

  /** The journal of an earlier run, validated (a resume continues it). */
  static read(dir: string): JournalData {
    return JournalData.parse(JSON.parse(fs.readFileSync(path.join(dir, "run.json"), "utf8")));
  }

  record(step: Omit<JournalStep, "at">): void {
    this.data.steps.push({ at: new Date().toISOString(), ...step });
    this.flush();
  }

  finish(state: "finished" | "failed"): void {
    this.data.state = state;
    this.data.finishedAt = new Date().toISOString();
    this.flush();
  }

  get steps(): readonly JournalStep[] {
    return this.data.steps;
  }

  private flush(): void {
    JournalData.parse(this.data); // what is written always matches the published schema
    const tmp = `${this.file}.${process.pid}.tmp`;
    fs.mkdirSync(path.dirname(this.file), { recursive: true });
    fs.writeFileSync(tmp, JSON.stringify(this.data, null, 2) + "\n");
    fs.renameSync(tmp, this.file);
  }
}
