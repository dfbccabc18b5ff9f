// Connection to a Docker lab machine through the engine's exec and archive APIs
// (no sshd needed inside the container, and no port published on the host).
import { refuseIfInterrupted } from "../../core/interrupt.ts";
import { PassThrough, type Readable } from "node:stream";
import path from "node:path";
import type Docker from "dockerode";
import tar from "tar-stream";
import { classifyError, REMEDIES } from "../../core/classify.ts";
import { LabError, type LabErrorKind } from "../../core/errors.ts";
import type { Connection, ExecOptions, ExecResult, FileToUpload } from "../types.ts";

const DEFAULT_TIMEOUT_MS = 120_000;

export class DockerConnection implements Connection {
  constructor(
    private readonly docker: Docker,
    /** Container name. Looked up by name on every call, so a restore that recreates it is transparent. */
    readonly container: string,
    readonly machine: string,
    private readonly ready: (deadline: number) => Promise<void> = async () => {},
  ) {}

  async exec(cmd: string | string[], opts: ExecOptions = {}): Promise<ExecResult> {
    refuseIfInterrupted("command", this.machine);
    const argv = typeof cmd === "string" ? ["sh", "-c", cmd] : cmd;
    const started = Date.now();
    const timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    const c = this.docker.getContainer(this.container);
    let exec: Docker.Exec;
    try {
      exec = await c.exec({
        Cmd: argv,
        AttachStdout: true,
        AttachStderr: true,
        AttachStdin: opts.stdin !== undefined,
        User: opts.user ?? "",
        Env: Object.entries(opts.env ?? {}).map(([k, v]) => `${k}=${v}`),
      });
    } catch (e) {
      throw this.execError(argv, `could not start: ${(e as Error).message}`, e);
    }
    const stream = (await exec.start({ hijack: true, stdin: opts.stdin !== undefined })) as NodeJS.ReadWriteStream;
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    const stdout = new PassThrough();
    const stderr = new PassThrough();
    stdout.on("data", (b: Buffer) => out.push(b));
    stderr.on("data", (b: Buffer) => err.push(b));
    this.docker.modem.demuxStream(stream as unknown as Readable, stdout, stderr);
    if (opts.stdin !== undefined) {
      stream.write(opts.stdin);
      // Half-close so the command sees EOF on stdin while we keep reading its output.
      (stream as unknown as { end(): void }).end();
    }
    let timer: NodeJS.Timeout | undefined;
    const finished = new Promise<void>((resolve, reject) => {
      stream.on("end", () => resolve());
      stream.on("close", () => resolve());
      stream.on("error", reject);
    });
    const timedOut = new Promise<"timeout">((resolve) => {
      timer = setTimeout(() => resolve("timeout"), timeoutMs);
    });
    try {
      const r = await Promise.race([finished, timedOut]);
      if (r === "timeout") {
        (stream as unknown as { destroy(): void }).destroy();
        throw this.execError(argv, `timed out after ${timeoutMs} ms`, undefined, "timeout");
      }
    } finally {
      clearTimeout(timer);
    }
    // The stream can end a moment before the engine records the exit code.
    let info = await exec.inspect();
    for (let i = 0; info.Running && i < 50; i++) {
      await new Promise((r) => setTimeout(r, 10));
      info = await exec.inspect();
    }
    return {
      exitCode: info.ExitCode ?? -1,
      stdout: Buffer.concat(out).toString("utf8"),
      stderr: Buffer.concat(err).toString("utf8"),
      durationMs: Date.now() - started,
    };
  }

  async upload(files: FileToUpload[]): Promise<void> {
    refuseIfInterrupted("upload", this.machine);
    const pack = tar.pack();
    for (const f of files) {
      if (!path.posix.isAbsolute(f.path)) {
        throw new LabError("exec", `upload to ${this.machine}: path ${f.path} is not absolute`, "pass absolute paths inside the machine", { machine: this.machine });
      }
      pack.entry({ name: f.path.replace(/^\/+/, ""), mode: f.mode ?? 0o644 }, f.content);
    }
    pack.finalize();
    try {
      await this.docker.getContainer(this.container).putArchive(pack as unknown as NodeJS.ReadableStream, { path: "/" });
    } catch (e) {
      throw new LabError("exec", `upload to ${this.machine} failed: ${(e as Error).message}`, "check that the machine is running (`patchlab lab status`)", { machine: this.machine }, { cause: e });
    }
  }

  async download(file: string): Promise<Buffer> {
    let archive: NodeJS.ReadableStream;
    try {
      archive = await this.docker.getContainer(this.container).getArchive({ path: file });
    } catch (e) {
      throw new LabError("exec", `download of ${file} from ${this.machine} failed: ${(e as Error).message}`, "check the path exists on the machine", { machine: this.machine }, { cause: e });
    }
    const extract = tar.extract();
    const chunks: Buffer[] = [];
    await new Promise<void>((resolve, reject) => {
      extract.on("entry", (header, s, next) => {
        if (header.type === "file" && chunks.length === 0) s.on("data", (b: unknown) => chunks.push(b as Buffer));
        s.on("end", next);
        s.resume();
      });
      extract.on("finish", resolve);
      extract.on("error", reject);
      archive.pipe(extract);
    });
    return Buffer.concat(chunks);
  }

  async restart(deadline: number): Promise<void> {
    const secondsLeft = Math.max(1, Math.floor((deadline - Date.now()) / 1000));
    try {
      await this.docker.getContainer(this.container).restart({ t: Math.min(10, secondsLeft) });
    } catch (e) {
      throw new LabError("machine-start", `restart of ${this.machine} failed: ${(e as Error).message}`, "see `docker logs` of the container", { machine: this.machine }, { cause: e });
    }
    await this.waitUntilReady(deadline);
  }

  waitUntilReady(deadline: number): Promise<void> {
    return this.ready(deadline);
  }

  private execError(argv: string[], what: string, cause?: unknown, kind: LabErrorKind = classifyError(cause) ?? "exec"): LabError {
    return new LabError(
      kind,
      `command on ${this.machine} ${what}: ${argv.join(" ").slice(0, 200)}`,
      kind === "exec" ? "check that the machine is running (`patchlab lab status`) and the command exists in its image" : `${REMEDIES[kind]}; \`patchlab lab status\` shows the machine`,
      { machine: this.machine },
      { cause },
    );
  }
}
