// SSH with the ssh2 library, from the client machine's vantage point: the TCP connection is
// opened by `nc` on the client (a docker exec whose stdin/stdout carry the bytes), and ssh2
// speaks SSH over that stream. So the server sees the client's address, as it would a user's.
// The key used is the one the client holds (~/.ssh/id_ed25519), read from the client.
import { Duplex, PassThrough, type Readable } from "node:stream";
import ssh2 from "ssh2";
import { CLIENT_KNOWN_HOSTS, CLIENT_SSH_KEY } from "../../harness/lab/roles/client.ts";
import { serviceTime } from "./check.ts";
import { assertClientRunning, clientEngine, onClient, sh } from "./client.ts";
import { suiteContext } from "./context.ts";

const { Client } = ssh2;

/** A byte stream to ip:port opened by `nc` on the client; `problems()` is what nc said on stderr. */
export async function tunnelFromClient(ip: string, port: number): Promise<{ stream: Duplex; problems: () => string }> {
  const d = clientEngine();
  const exec = await d.getContainer(suiteContext().client.container).exec({
    Cmd: ["nc", "-w", "10", ip, String(port)],
    AttachStdin: true,
    AttachStdout: true,
    AttachStderr: true,
  });
  const raw = (await exec.start({ hijack: true, stdin: true })) as unknown as Duplex;
  const out = new PassThrough();
  const err = new PassThrough();
  let errText = "";
  err.on("data", (b: Buffer) => (errText += b.toString()));
  d.modem.demuxStream(raw as unknown as Readable, out, err);
  const stream = new Duplex({
    write(chunk, _enc, cb) {
      raw.write(chunk, cb);
    },
    final(cb) {
      raw.end();
      cb();
    },
    read() {
      out.resume();
    },
    destroy(e, cb) {
      raw.destroy();
      cb(e);
    },
  });
  out.on("data", (b: Buffer) => {
    if (!stream.push(b)) out.pause();
  });
  const end = () => stream.push(null);
  raw.on("end", end);
  raw.on("close", end);
  raw.on("error", (e) => stream.destroy(e));
  return { stream, problems: () => errText.trim() };
}

export interface SshSession {
  /** The host key the server presented (its SSH wire blob). */
  hostKey: Buffer | undefined;
  client: ssh2.Client | undefined;
  /** Why the login failed, in a reviewer's words; undefined when it succeeded. */
  error: string | undefined;
}

/** Logs in as `user` with `privateKey` over a tunnel from the client; the handshake and login time is the service's. */
export async function sshLogin(ip: string, user: string, privateKey: string, timeoutMs = 15_000): Promise<SshSession> {
  const s = await loginOnce(ip, user, privateKey, timeoutMs);
  // A connection that broke because the client went away says nothing about the server.
  if (s.error && !/refused the key login/.test(s.error)) await assertClientRunning();
  return s;
}

async function loginOnce(ip: string, user: string, privateKey: string, timeoutMs: number): Promise<SshSession> {
  const { stream, problems } = await tunnelFromClient(ip, 22);
  const client = new Client();
  let hostKey: Buffer | undefined;
  const started = performance.now();
  return new Promise((resolve) => {
    let settled = false;
    const done = (error: string | undefined, answered: boolean) => {
      if (settled) return;
      settled = true;
      // The handshake and the login's answer (yes or no) are the server's work.
      if (answered) serviceTime(performance.now() - started);
      if (error) {
        client.end();
        stream.destroy();
      }
      resolve({ hostKey, client: error ? undefined : client, error });
    };
    client.on("ready", () => done(undefined, true));
    client.on("error", (e: Error & { level?: string }) => {
      const nc = problems();
      if (e.level === "client-authentication") done(`the server refused the key login of ${user} (${e.message})`, true);
      else if (nc) done(`no SSH connection from the client: ${nc}`, false);
      else done(`SSH failed: ${e.message}`, false);
    });
    client.on("close", () => done(`the connection closed before the login finished${problems() ? ` (${problems()})` : ""}`, false));
    client.connect({
      sock: stream,
      username: user,
      privateKey,
      readyTimeout: timeoutMs,
      // Recorded, and judged by the host-key check against the client's known_hosts.
      hostVerifier: (key: Buffer) => {
        hostKey = key;
        return true;
      },
    });
  });
}

export interface CommandResult {
  code: number | null;
  signal: string | undefined;
  stdout: string;
  stderr: string;
}

/** Runs a command in a logged-in session; the time to its exit is the service's. */
export function sshExec(client: ssh2.Client, command: string, timeoutMs = 15_000): Promise<CommandResult> {
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`ssh command did not finish within ${timeoutMs} ms: ${command}`)), timeoutMs);
    client.exec(command, (err, ch) => {
      if (err) {
        clearTimeout(timer);
        return reject(err);
      }
      let stdout = "";
      let stderr = "";
      let code: number | null = null;
      let signal: string | undefined;
      ch.on("data", (b: Buffer) => (stdout += b.toString()));
      ch.stderr.on("data", (b: Buffer) => (stderr += b.toString()));
      ch.on("exit", (c: number | null, s?: string) => {
        code = c;
        signal = s;
      });
      ch.on("close", () => {
        clearTimeout(timer);
        serviceTime(performance.now() - started);
        // No exit status: the channel broke; if the client went away, that is broken, not failed.
        if (code === null && signal === undefined) assertClientRunning().then(() => resolve({ code, signal, stdout, stderr }), reject);
        else resolve({ code, signal, stdout, stderr });
      });
    });
  });
}

/** The lab user's private key as the client holds it. */
export async function clientKey(): Promise<string> {
  const r = await onClient(`cat ${sh(CLIENT_SSH_KEY)}`);
  if (r.exitCode !== 0) throw new Error(`the client has no SSH key at ${CLIENT_SSH_KEY} (the client role's provision puts it there): ${r.stderr.trim()}`);
  return r.stdout;
}

/** The host key the client's known_hosts has for any of `names`, as an SSH wire blob. */
export async function knownHostKey(names: string[]): Promise<Buffer | undefined> {
  const r = await onClient(`cat ${sh(CLIENT_KNOWN_HOSTS)} 2>/dev/null || true`);
  for (const line of r.stdout.split("\n")) {
    const [hosts = "", , blob] = line.trim().split(/\s+/);
    if (blob && hosts.split(",").some((h) => names.includes(h))) return Buffer.from(blob, "base64");
  }
  return undefined;
}

/** A short fingerprint for messages: SHA256:<base64> as OpenSSH prints it. */
export async function fingerprintOf(blob: Buffer): Promise<string> {
  const { createHash } = await import("node:crypto");
  return `SHA256:${createHash("sha256").update(blob).digest("base64").replace(/=+$/, "")}`;
}
