// The run journal (reports/<run>/run.json): every step's outcome is written the moment it
// happens (atomically: write a temp file, rename), so a killed run leaves an exact account
// of how far it got, and nothing already recorded is ever lost.
import fs from "node:fs";
import path from "node:path";

export type StepStatus = "started" | "passed" | "failed" | "broken" | "skipped";

export interface JournalStep {
  at: string;
  machine?: string;
  patch?: string;
  step: string;
  status: StepStatus;
  message?: string;
  durationMs?: number;
}

export interface JournalData {
  runId: string;
  batch: string;
  lab: string;
  pid: number;
  startedAt: string;
  finishedAt?: string;
  state: "running" | "finished" | "failed";
  steps: JournalStep[];
}

export class Journal {
  readonly file: string;
  private data: JournalData;

  constructor(dir: string, init: Omit<JournalData, "steps" | "state" | "startedAt" | "pid">) {
    this.file = path.join(dir, "run.json");
    this.data = { ...init, pid: process.pid, startedAt: new Date().toISOString(), state: "running", steps: [] };
    this.flush();
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
    const tmp = `${this.file}.${process.pid}.tmp`;
    fs.mkdirSync(path.dirname(this.file), { recursive: true });
    fs.writeFileSync(tmp, JSON.stringify(this.data, null, 2) + "\n");
    fs.renameSync(tmp, this.file);
  }
}
