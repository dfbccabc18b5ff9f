// One log file per image build: everything the build printed, so a failure can name the
// file and quote its last lines.
import fs from "node:fs";
import path from "node:path";
import { spawn } from "node:child_process";

export class BuildLog {
  private readonly fd: number;
  private partial = "";
  private readonly tail: string[] = [];

  constructor(
    readonly file: string,
    private readonly onLine?: (line: string) => void,
  ) {
    fs.mkdirSync(path.dirname(file), { recursive: true });
    this.fd = fs.openSync(file, "w");
  }

  /** Raw output (may hold partial lines). */
  write(chunk: string | Buffer): void {
    // The engine colours a build's stderr; the log is for reading.
    const text = (this.partial + chunk.toString()).replace(/\x1b\[[0-9;]*m/g, "");
    const lines = text.split(/\r?\n/);
    this.partial = lines.pop() ?? "";
    for (const l of lines) this.line(l);
  }

  line(l: string): void {
    fs.writeSync(this.fd, l + "\n");
    this.tail.push(l);
    if (this.tail.length > 200) this.tail.splice(0, this.tail.length - 200);
    this.onLine?.(l);
  }

  /** The last n non-empty lines. */
  lastLines(n = 20): string[] {
    return this.tail.filter((l) => l.trim() !== "").slice(-n);
  }

  close(): void {
    if (this.partial) this.line(this.partial);
    this.partial = "";
    try { fs.closeSync(this.fd); } catch { /* already closed */ }
  }

  /** Runs a host command, its output going to the log. Rejects with the exit code on failure. */
  run(cmd: string, args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): Promise<void> {
    this.line(`$ ${cmd} ${args.join(" ")}`);
    return new Promise((resolve, reject) => {
      const p = spawn(cmd, args, { cwd: opts.cwd, env: opts.env ?? process.env, stdio: ["ignore", "pipe", "pipe"] });
      p.stdout.on("data", (b: Buffer) => this.write(b));
      p.stderr.on("data", (b: Buffer) => this.write(b));
      p.once("error", (e) => reject(new Error(`${cmd}: ${e.message}`)));
      p.once("close", (code, signal) => {
        if (this.partial) { this.line(this.partial); this.partial = ""; }
        if (code === 0) resolve();
        else reject(new Error(`${cmd} exited with ${code ?? signal}`));
      });
    });
  }
}
