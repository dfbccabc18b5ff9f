// Wait strategies own their deadline and their timeout message (the testcontainers idea):
// a timeout names the machine, what was awaited and the last thing seen.
import net from "node:net";
import https from "node:https";
import http from "node:http";
import { LabError } from "../core/errors.ts";
import { timeoutMs } from "../core/timeouts.ts";
import type { Connection } from "../lab/types.ts";

export interface ProbeTarget {
  machine: string;
  /** Address reachable from the harness (the container's IP on the lab network). */
  ip: string;
  conn: Connection;
}

export interface ProbeResult {
  ok: boolean;
  detail: string;
}

export interface WaitStrategy {
  describe(): string;
  probe(t: ProbeTarget): Promise<ProbeResult>;
}

/** A TCP port accepts connections (probed from the harness, i.e. across the lab network). */
export function port(p: number): WaitStrategy {
  return {
    describe: () => `tcp/${p} accepting`,
    probe: (t) =>
      new Promise((resolve) => {
        const s = net.connect({ host: t.ip, port: p, timeout: 1000 });
        s.once("connect", () => { s.destroy(); resolve({ ok: true, detail: `tcp/${p} open` }); });
        s.once("timeout", () => { s.destroy(); resolve({ ok: false, detail: `tcp/${p} timed out` }); });
        s.once("error", (e) => resolve({ ok: false, detail: `tcp/${p}: ${(e as NodeJS.ErrnoException).code ?? e.message}` }));
      }),
  };
}

export interface HttpWaitOptions {
  path?: string;
  https?: boolean;
  port?: number;
  /** Status codes counted as ready; default 200-399. */
  expect?: (status: number) => boolean;
  /** CA to verify the server against (https); when absent, verification is skipped. */
  ca?: string;
  /** Host header / SNI name. */
  host?: string;
}

/** An HTTP(S) endpoint answers with an expected status. */
export function httpGet(opts: HttpWaitOptions = {}): WaitStrategy {
  const scheme = opts.https ? "https" : "http";
  const path = opts.path ?? "/";
  const expect = opts.expect ?? ((s: number) => s >= 200 && s < 400);
  return {
    describe: () => `${scheme} GET ${path} answering`,
    probe: (t) =>
      new Promise((resolve) => {
        const mod = opts.https ? https : http;
        // `timeout` below is per idle socket; this is the probe's whole deadline, so a server
        // that trickles bytes cannot hold a probe (and the readiness loop) forever.
        const limit = timeoutMs("http-probe");
        const hard = setTimeout(() => {
          req.destroy();
          resolve({ ok: false, detail: `${scheme} ${path} did not answer within ${limit} ms` });
        }, limit);
        const done = (r: ProbeResult) => {
          clearTimeout(hard);
          resolve(r);
        };
        const req = mod.request(
          {
            host: t.ip,
            port: opts.port ?? (opts.https ? 443 : 80),
            path,
            method: "GET",
            timeout: 2000,
            headers: opts.host ? { host: opts.host } : {},
            ...(opts.https ? { servername: opts.host, ca: opts.ca, rejectUnauthorized: opts.ca !== undefined } : {}),
          },
          (res) => {
            res.resume();
            res.once("error", () => undefined);
            const status = res.statusCode ?? 0;
            done({ ok: expect(status), detail: `${scheme} ${path} -> ${status}` });
            res.destroy(); // the status is all we need; do not wait for a body that may never end
          },
        );
        req.once("timeout", () => { req.destroy(); done({ ok: false, detail: `${scheme} ${path} timed out` }); });
        req.once("error", (e) => done({ ok: false, detail: `${scheme} ${path}: ${(e as NodeJS.ErrnoException).code ?? e.message}` }));
        req.end();
      }),
  };
}

/** A command inside the machine exits 0. */
export function command(cmd: string, label?: string): WaitStrategy {
  return {
    describe: () => label ?? `\`${cmd}\` succeeding`,
    probe: async (t) => {
      try {
        const r = await t.conn.exec(cmd, { timeoutMs: 5000 });
        const out = (r.stdout + r.stderr).trim().split("\n").slice(-1)[0] ?? "";
        return { ok: r.exitCode === 0, detail: `${label ?? cmd} -> exit ${r.exitCode}${out ? `: ${out.slice(0, 200)}` : ""}` };
      } catch (e) {
        return { ok: false, detail: `${label ?? cmd}: ${(e as Error).message}` };
      }
    },
  };
}

/** All strategies at once (one probe round checks every one of them). */
export async function probeAll(strategies: WaitStrategy[], t: ProbeTarget): Promise<ProbeResult> {
  const results = await Promise.all(strategies.map((s) => s.probe(t)));
  const bad = results.filter((r) => !r.ok);
  return bad.length === 0
    ? { ok: true, detail: results.map((r) => r.detail).join("; ") }
    : { ok: false, detail: bad.map((r) => r.detail).join("; ") };
}

/**
 * Polls until every strategy passes or the deadline passes. Polls fast at first (restores
 * must stay sub-second) and backs off to 500 ms.
 */
export async function waitUntil(strategies: WaitStrategy[], t: ProbeTarget, deadline: number): Promise<void> {
  let delay = 25;
  let last: ProbeResult = { ok: false, detail: "not probed yet" };
  for (;;) {
    last = await probeAll(strategies, t);
    if (last.ok) return;
    if (Date.now() + delay > deadline) break;
    await new Promise((r) => setTimeout(r, delay));
    delay = Math.min(delay * 2, 500);
  }
  throw new LabError(
    "readiness-timeout",
    `${t.machine} not ready before its deadline: waiting for ${strategies.map((s) => s.describe()).join(", ")}; last seen: ${last.detail}`,
    `look at the machine's log (reports/<run>/logs/${t.machine}.log) and \`docker logs\` of its container; a slow machine may need a longer deadline (--timeout)`,
    { machine: t.machine },
  );
}
