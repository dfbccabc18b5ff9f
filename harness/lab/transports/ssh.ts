// Connection over SSH (the ssh2 library): for existing servers and for the vm driver's
// guests. One SSH session per machine, opened on first use and reopened after it drops (a
// reboot, a restore); every exec is its own channel with separate stdout and stderr.
//
// What is a lab error here: a session that cannot be opened, a channel that cannot be
// opened, a command that outlives its timeout, and a command whose exit status never
// arrives (the session died under it). A command that ran and exited non-zero is a result.
import { refuseIfInterrupted } from "../../core/interrupt.ts";
import ssh2 from "ssh2";
import type { ClientChannel, ConnectConfig } from "ssh2";
import { LabError } from "../../core/errors.ts";
import { nullLogger, type Logger } from "../../core/log.ts";
import type { Connection, ExecOptions, ExecResult, FileToUpload } from "../types.ts";
import { entriesFor, preferredHostKeyAlgorithms, readKnownHosts, verifyHostKey, type HostKeyVerdict } from "./known-hosts.ts";
import type { SshCredentials } from "./secrets.ts";

const { Client } = ssh2;
type Client = InstanceType<typeof Client>;

const DEFAULT_TIMEOUT_MS = 120_000;
const CONNECT_TIMEOUT_MS = 10_000;

/** Quotes one word for a POSIX shell. */
export function shq(s: string): string {
  return /^[A-Za-z0-9_./:=@%+,-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}

export interface SshEndpoint {
  host: string;
  port: number;
  user: string;
  knownHostsFile: string;
  trustOnFirstUse: boolean;
  /** Resolved when the session is opened, so a missing secret fails there with its remedy. */
  credentials: () => SshCredentials;
}

export interface SshConnectionOptions {
  machine: string;
  endpoint: SshEndpoint;
  /** After SSH answers: what else "ready" means (the machine's roles). */
  ready?: (deadline: number) => Promise<void>;
  /** Restart from outside (a hypervisor hook) instead of rebooting from inside. */
  restartHook?: () => Promise<void>;
  /**
   * Called while waiting for the machine: a message when it can never come back (its VM
   * process died), so the wait ends at once instead of at the deadline.
   */
  gone?: () => Promise<string | undefined>;
  /** Where a person looks when the machine does not come back (a serial console log). */
  consoleHint?: string;
  log?: Logger;
}

/** A failure that waiting will not cure (wrong host key, refused credentials). */
class FatalSshError extends LabError {}

interface RawResult {
  exitCode: number;
  stdout: Buffer;
  stderr: Buffer;
  durationMs: number;
}

export class SshConnection implements Connection {
  readonly machine: string;
  private session: Promise<Client> | undefined;
  private readonly log: Logger;

  constructor(private readonly o: SshConnectionOptions) {
    this.machine = o.machine;
    this.log = o.log ?? nullLogger;
  }

  get endpoint(): SshEndpoint {
    return this.o.endpoint;
  }

  private where(): string {
    const e = this.o.endpoint;
    return `${e.user}@${e.host}:${e.port}`;
  }

  /** Drops the session; the next call opens a new one (after a restore or a reboot). */
  close(): void {
    const s = this.session;
    this.session = undefined;
    s?.then((c) => c.end()).catch(() => undefined);
  }

  private client(connectTimeoutMs = CONNECT_TIMEOUT_MS): Promise<Client> {
    if (!this.session) {
      const p = this.open(connectTimeoutMs);
      this.session = p;
      p.catch(() => {
        if (this.session === p) this.session = undefined;
      });
    }
    return this.session;
  }

  private open(timeoutMs: number): Promise<Client> {
    const e = this.o.endpoint;
    const creds = e.credentials();
    let verdict: HostKeyVerdict | undefined;
    const known = entriesFor(readKnownHosts(e.knownHostsFile), e.host, e.port);
    const prefer = preferredHostKeyAlgorithms(known.filter((k) => !k.marker));
    const config: ConnectConfig = {
      host: e.host,
      port: e.port,
      username: e.user,
      readyTimeout: Math.max(1000, timeoutMs),
      keepaliveInterval: 5000,
      keepaliveCountMax: 3,
      ...(creds.privateKey ? { privateKey: creds.privateKey } : {}),
      ...(creds.passphrase !== undefined ? { passphrase: creds.passphrase } : {}),
      ...(creds.password !== undefined ? { password: creds.password } : {}),
      hostVerifier: (key: Buffer) => {
        verdict = verifyHostKey({ file: e.knownHostsFile, host: e.host, port: e.port, trustOnFirstUse: e.trustOnFirstUse }, key);
        return verdict.ok;
      },
      ...(prefer.length ? { algorithms: { serverHostKey: { prepend: prefer, append: [], remove: [] } as never } } : {}),
    };
    return new Promise<Client>((resolve, reject) => {
      const c = new Client();
      let settled = false;
      c.once("ready", () => {
        settled = true;
        if (verdict?.ok && verdict.recorded) this.log.warn("trusted an unknown host key on first use", { host: e.host, port: e.port, file: e.knownHostsFile });
        resolve(c);
      });
      c.on("error", (err: Error & { level?: string }) => {
        if (settled) {
          this.log.debug("ssh session error", { error: err.message });
          return;
        }
        settled = true;
        c.end();
        reject(this.connectError(err, verdict, creds));
      });
      c.on("close", () => {
        if (!settled) {
          settled = true;
          reject(new LabError("exec", `SSH session to ${this.machine} (${this.where()}) closed during the handshake`, "check that sshd runs on the machine", { machine: this.machine }));
        }
        // A session that dropped (reboot, restore) is reopened on next use.
        this.session?.then((s) => { if (s === c) this.session = undefined; }).catch(() => undefined);
      });
      c.connect(config);
    });
  }

  private connectError(err: Error & { level?: string }, verdict: HostKeyVerdict | undefined, creds: SshCredentials): LabError {
    const m = { machine: this.machine };
    if (verdict && !verdict.ok) return new FatalSshError("exec", verdict.message, verdict.remedy, m);
    if (err.level === "client-authentication") {
      // Names where the credentials came from, never what they are.
      return new FatalSshError("exec", `SSH login to ${this.machine} as ${this.where()} was refused (credentials from ${creds.source})`, "check the machine's authorized_keys (or password) for that user, and the secret's key/passphrase", m);
    }
    const code = (err as NodeJS.ErrnoException).code;
    return new LabError("exec", `cannot open an SSH session to ${this.machine} (${this.where()}): ${code ?? err.message}`, "check that the machine is up and sshd listens on that address and port", m, { cause: err });
  }

  /** The shell command line for an exec: argv quoted; env, user and sudo as prefixes. */
  commandLine(cmd: string | string[], opts: ExecOptions = {}): string {
    const argv = typeof cmd === "string" ? ["sh", "-c", cmd] : cmd;
    const prefix: string[] = [];
    const login = this.o.endpoint.user;
    if (opts.user && opts.user !== login) prefix.push(...(login === "root" ? ["runuser", "-u", opts.user, "--"] : ["sudo", "-n", "-u", opts.user, "--"]));
    else if (login !== "root") prefix.push("sudo", "-n", "--");
    const env = Object.entries(opts.env ?? {}).map(([k, v]) => `${k}=${v}`);
    if (env.length) prefix.push("env", ...env);
    return [...prefix, ...argv].map(shq).join(" ");
  }

  private async run(cmd: string | string[], opts: ExecOptions = {}): Promise<RawResult> {
    const started = Date.now();
    const timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    const line = this.commandLine(cmd, opts);
    const shown = (typeof cmd === "string" ? cmd : cmd.join(" ")).slice(0, 200);
    const client = await this.client(Math.min(CONNECT_TIMEOUT_MS, timeoutMs));
    const channel = await new Promise<ClientChannel>((resolve, reject) => {
      try {
        client.exec(line, (err, ch) => (err ? reject(err) : resolve(ch)));
      } catch (e) {
        reject(e as Error);
      }
    }).catch((e: Error) => {
      throw new LabError("exec", `command on ${this.machine} could not start (${e.message}): ${shown}`, "check that the machine is up (`patchlab lab status`)", { machine: this.machine }, { cause: e });
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    channel.on("data", (b: Buffer) => out.push(b));
    channel.stderr.on("data", (b: Buffer) => err.push(b));
    let exit: { code: number } | undefined;
    channel.on("exit", (code: number | null, signal?: string) => {
      // Killed by a signal: the shell convention, 128 + its number (the command did run).
      exit = { code: code ?? 128 + (signalNumber(signal) ?? 0) };
    });
    if (opts.stdin !== undefined) channel.end(opts.stdin);
    else channel.end();
    let timer: NodeJS.Timeout | undefined;
    const outcome = await Promise.race([
      new Promise<"closed">((resolve) => channel.on("close", () => resolve("closed"))),
      new Promise<"timeout">((resolve) => { timer = setTimeout(() => resolve("timeout"), timeoutMs); }),
    ]);
    clearTimeout(timer);
    if (outcome === "timeout") {
      try { channel.signal("KILL"); } catch { /* not supported by every sshd */ }
      channel.close();
      throw new LabError("exec", `command on ${this.machine} timed out after ${timeoutMs} ms: ${shown}`, "the machine may be overloaded or the command hangs; look at the machine's log", { machine: this.machine });
    }
    if (!exit) {
      throw new LabError("exec", `command on ${this.machine} ended without an exit status (the SSH session dropped): ${shown}`, "the machine may have rebooted or gone away; `patchlab lab status` shows whether it is up", { machine: this.machine });
    }
    return { exitCode: exit.code, stdout: Buffer.concat(out), stderr: Buffer.concat(err), durationMs: Date.now() - started };
  }

  async exec(cmd: string | string[], opts: ExecOptions = {}): Promise<ExecResult> {
    refuseIfInterrupted("command", this.machine);
    const r = await this.run(cmd, opts);
    return { exitCode: r.exitCode, stdout: r.stdout.toString("utf8"), stderr: r.stderr.toString("utf8"), durationMs: r.durationMs };
  }

  async upload(files: FileToUpload[]): Promise<void> {
    refuseIfInterrupted("upload", this.machine);
    for (const f of files) {
      if (!f.path.startsWith("/")) {
        throw new LabError("exec", `upload to ${this.machine}: path ${f.path} is not absolute`, "pass absolute paths inside the machine", { machine: this.machine });
      }
      // Written beside the target and renamed over it: a reader never sees half a file.
      const script = 'set -e; t="$1.patchlab-upload.$$"; mkdir -p "$(dirname "$1")"; cat > "$t"; chmod "$2" "$t"; mv -f "$t" "$1"';
      const r = await this.run(["sh", "-c", script, "sh", f.path, (f.mode ?? 0o644).toString(8)], { stdin: f.content, timeoutMs: 300_000 });
      if (r.exitCode !== 0) {
        throw new LabError("exec", `upload of ${f.path} to ${this.machine} failed (exit ${r.exitCode}): ${r.stderr.toString().trim().slice(0, 300)}`, "check free space and permissions on the machine", { machine: this.machine });
      }
    }
  }

  async download(file: string): Promise<Buffer> {
    const r = await this.run(["cat", "--", file], { timeoutMs: 300_000 });
    if (r.exitCode !== 0) {
      throw new LabError("exec", `download of ${file} from ${this.machine} failed: ${r.stderr.toString().trim().slice(0, 300)}`, "check the path exists on the machine", { machine: this.machine });
    }
    return r.stdout;
  }

  /** This boot's id: changes on every boot, so a reboot is proven, not assumed. */
  async bootId(timeoutMs = 10_000): Promise<string> {
    const r = await this.exec(["cat", "/proc/sys/kernel/random/boot_id"], { timeoutMs });
    const id = r.stdout.trim();
    if (r.exitCode !== 0 || !id) throw new LabError("exec", `cannot read the boot id of ${this.machine}`, "the machine needs /proc/sys/kernel/random/boot_id (Linux)", { machine: this.machine });
    return id;
  }

  /** Waits until a session opens and runs a command; fails at once on a fatal error or a dead machine. */
  private async waitForSsh(deadline: number, what: string, accept: () => Promise<boolean> = async () => true): Promise<void> {
    let last = "not tried yet";
    let delay = 200;
    for (;;) {
      const left = deadline - Date.now();
      if (left <= 0) break;
      try {
        await this.client(Math.min(CONNECT_TIMEOUT_MS, left));
        if (await accept()) return;
        last = "still the same boot";
      } catch (e) {
        if (e instanceof FatalSshError) throw e;
        last = (e as Error).message;
        this.close();
      }
      const dead = await this.o.gone?.();
      if (dead) {
        throw new LabError("machine-start", `${this.machine} ${what}: ${dead}`, this.o.consoleHint ? `read ${this.o.consoleHint}` : "look at the machine's console", { machine: this.machine });
      }
      if (Date.now() + delay > deadline) break;
      await new Promise((r) => setTimeout(r, delay));
      delay = Math.min(delay * 2, 1000);
    }
    throw new LabError(
      "readiness-timeout",
      `${this.machine} ${what} before its deadline (SSH at ${this.where()}; last seen: ${last})`,
      `${this.o.consoleHint ? `read ${this.o.consoleHint}; ` : ""}a machine that does not come back after a patch's reboot points at the patch, but is reported as a lab error: look at its console`,
      { machine: this.machine },
    );
  }

  /** SSH answers (a session opens and runs `true`); the roles are not waited for. */
  async waitUntilReachable(deadline: number): Promise<void> {
    await this.waitForSsh(deadline, "did not answer over SSH", async () => (await this.exec(["true"], { timeoutMs: Math.max(1000, Math.min(10_000, deadline - Date.now())) })).exitCode === 0);
  }

  async waitUntilReady(deadline: number): Promise<void> {
    await this.waitUntilReachable(deadline);
    await this.o.ready?.(deadline);
  }

  /**
   * Reboots the machine (from inside, or through the restart hook) and waits until it is
   * back: a new boot id over SSH, then the roles' readiness. Not back by the deadline is a
   * LabError "readiness-timeout".
   */
  async restart(deadline: number): Promise<void> {
    const before = await this.bootId();
    const t0 = Date.now();
    if (this.o.restartHook) {
      await this.o.restartHook();
    } else {
      // Detached and delayed, so the command returns its status before the session dies.
      const r = await this.exec("nohup sh -c 'sleep 1; systemctl reboot || /sbin/reboot' >/dev/null 2>&1 &", { timeoutMs: 15_000 });
      if (r.exitCode !== 0) throw new LabError("exec", `could not ask ${this.machine} to reboot (exit ${r.exitCode}): ${r.stderr.trim().slice(0, 200)}`, "the login user needs to be root or have password-less sudo", { machine: this.machine });
    }
    this.close();
    await this.waitForSsh(deadline, "did not come back after a reboot", async () => {
      const id = await this.bootId(Math.max(1000, Math.min(10_000, deadline - Date.now())));
      return id !== before;
    });
    this.log.info("machine rebooted", { ms: Date.now() - t0 });
    await this.o.ready?.(deadline);
  }
}

const SIGNALS: Record<string, number> = { HUP: 1, INT: 2, QUIT: 3, ILL: 4, ABRT: 6, FPE: 8, KILL: 9, SEGV: 11, PIPE: 13, ALRM: 14, TERM: 15 };
function signalNumber(name: string | undefined): number | undefined {
  return name ? SIGNALS[name.replace(/^SIG/, "")] : undefined;
}
