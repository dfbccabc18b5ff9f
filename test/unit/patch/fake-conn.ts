// A scripted Connection for unit tests: every exec is recorded and answered by a handler.
import type { Connection, ExecOptions, ExecResult, FileToUpload } from "../../../harness/lab/types.ts";

export type Handler = (cmd: string, opts: ExecOptions) => Partial<ExecResult> | undefined;

export class FakeConn implements Connection {
  readonly machine = "web";
  readonly commands: string[] = [];
  readonly uploads: FileToUpload[] = [];
  readonly files = new Map<string, Buffer>();
  constructor(private readonly handler: Handler = () => undefined) {}
  async exec(cmd: string | string[], opts: ExecOptions = {}): Promise<ExecResult> {
    const text = typeof cmd === "string" ? cmd : cmd.join(" ");
    this.commands.push(text);
    const r = this.handler(text, opts) ?? {};
    return { exitCode: 0, stdout: "", stderr: "", durationMs: 1, ...r };
  }
  async upload(files: FileToUpload[]): Promise<void> {
    this.uploads.push(...files);
  }
  async download(p: string): Promise<Buffer> {
    const b = this.files.get(p);
    if (!b) throw new Error(`no such file ${p}`);
    return b;
  }
  async restart(): Promise<void> {}
  async waitUntilReady(): Promise<void> {}
  /** The commands run as installer steps (inside `timeout ... sh -c '...'`), unquoted. */
  steps(): string[] {
    return this.commands.filter((c) => c.includes("exec timeout --verbose")).map((c) => /sh -c '(.*)' <\/dev\/null$/s.exec(c)?.[1]?.replace(/'\\''/g, "'") ?? c);
  }
}
