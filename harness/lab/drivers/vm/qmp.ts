// A minimal QMP client (QEMU Machine Protocol, JSON lines over a unix socket): the greeting,
// capability negotiation, commands matched to replies by id, events ignored. HMP commands
// (savevm/loadvm/delvm) go through `human-monitor-command`, whose errors come back as text.
import net from "node:net";

export class QmpError extends Error {}

interface Pending {
  resolve: (v: unknown) => void;
  reject: (e: Error) => void;
  timer: NodeJS.Timeout;
}

export class QmpClient {
  private buf = "";
  private nextId = 1;
  private readonly pending = new Map<string, Pending>();
  private closed: Error | undefined;

  private constructor(private readonly sock: net.Socket) {
    sock.setEncoding("utf8");
    sock.on("data", (chunk: string) => this.onData(chunk));
    const fail = (e: Error) => {
      this.closed = e;
      for (const [, p] of this.pending) { clearTimeout(p.timer); p.reject(e); }
      this.pending.clear();
    };
    sock.on("error", (e) => fail(e));
    sock.on("close", () => fail(new QmpError("QMP socket closed")));
  }

  static async connect(socketPath: string, timeoutMs = 5000): Promise<QmpClient> {
    const sock = await new Promise<net.Socket>((resolve, reject) => {
      const s = net.connect(socketPath);
      const t = setTimeout(() => { s.destroy(); reject(new QmpError(`QMP ${socketPath}: no answer within ${timeoutMs} ms`)); }, timeoutMs);
      s.once("connect", () => { clearTimeout(t); resolve(s); });
      s.once("error", (e) => { clearTimeout(t); reject(e); });
    });
    const c = new QmpClient(sock);
    await c.greeting(timeoutMs);
    await c.execute("qmp_capabilities", undefined, timeoutMs);
    return c;
  }

  private greetingWaiter: ((v: unknown) => void) | undefined;

  private greeting(timeoutMs: number): Promise<void> {
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new QmpError("no QMP greeting")), timeoutMs);
      this.greetingWaiter = () => { clearTimeout(t); resolve(); };
    });
  }

  private onData(chunk: string): void {
    this.buf += chunk;
    let i: number;
    while ((i = this.buf.indexOf("\n")) >= 0) {
      const line = this.buf.slice(0, i).trim();
      this.buf = this.buf.slice(i + 1);
      if (!line) continue;
      let msg: { QMP?: unknown; id?: string; return?: unknown; error?: { class: string; desc: string }; event?: string };
      try { msg = JSON.parse(line); } catch { continue; }
      if (msg.QMP) { this.greetingWaiter?.(msg); this.greetingWaiter = undefined; continue; }
      if (msg.event || msg.id === undefined) continue;
      const p = this.pending.get(msg.id);
      if (!p) continue;
      this.pending.delete(msg.id);
      clearTimeout(p.timer);
      if (msg.error) p.reject(new QmpError(`${msg.error.class}: ${msg.error.desc}`));
      else p.resolve(msg.return);
    }
  }

  execute<T = unknown>(command: string, args?: Record<string, unknown>, timeoutMs = 30_000): Promise<T> {
    if (this.closed) return Promise.reject(this.closed);
    const id = String(this.nextId++);
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new QmpError(`QMP ${command} got no answer within ${timeoutMs} ms`));
      }, timeoutMs);
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject, timer });
      this.sock.write(JSON.stringify({ execute: command, ...(args ? { arguments: args } : {}), id }) + "\n");
    });
  }

  /**
   * An HMP command's output. savevm/loadvm/delvm print nothing on success and their error
   * on failure, so for those (check) any output is thrown.
   */
  async hmp(commandLine: string, opts: { timeoutMs?: number; check?: boolean } = {}): Promise<string> {
    const out = String(await this.execute("human-monitor-command", { "command-line": commandLine }, opts.timeoutMs ?? 120_000));
    if (opts.check !== false && out.trim() !== "") throw new QmpError(`${commandLine}: ${out.trim()}`);
    return out;
  }

  close(): void {
    this.sock.end();
    this.sock.destroy();
  }
}
