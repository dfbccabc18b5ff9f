// A small SSH server for unit tests of the ssh transport, built on ssh2's own server: real
// SSH protocol, host keys and authentication on 127.0.0.1; every exec runs for real with
// `sh -c` on this host (so quoting, env, stdin and exit codes are exercised for real).
// A few scripted behaviours stand in for a machine: its boot id, a reboot (sessions drop,
// new boot id, or never back), and a session that dies in the middle of a command.
import { spawn } from "node:child_process";
import { randomUUID } from "node:crypto";
import type { AddressInfo } from "node:net";
import ssh2 from "ssh2";
import type { Connection as ServerConn } from "ssh2";

const { Server, utils } = ssh2;

export interface FakeSshd {
  port: number;
  hostKeyPublic: string;
  bootId: string;
  /** Commands the server saw, as the client sent them. */
  commands: string[];
  /** After a reboot: "back" (new boot id after rebootMs) or "never" (refuses sessions). */
  afterReboot: "back" | "never";
  rebootMs: number;
  close(): Promise<void>;
}

import { generateKeyPair } from "../../../harness/lab/transports/keys.ts";

export const keyPair = generateKeyPair;

export async function startFakeSshd(opts: { clientPublicKey?: string; password?: string; hostKey?: string } = {}): Promise<FakeSshd> {
  const host = opts.hostKey ?? keyPair().privateKey;
  const hostPub = utils.parseKey(host);
  if (hostPub instanceof Error) throw hostPub;
  const allowed = opts.clientPublicKey ? utils.parseKey(opts.clientPublicKey) : undefined;
  if (allowed instanceof Error) throw allowed;
  const conns = new Set<ServerConn>();
  let down = false;
  const state: FakeSshd = {
    port: 0,
    hostKeyPublic: `${hostPub.type} ${hostPub.getPublicSSH().toString("base64")}`,
    bootId: randomUUID(),
    commands: [],
    afterReboot: "back",
    rebootMs: 300,
    close: async () => {
      for (const c of conns) c.end();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
  const reboot = () => {
    setTimeout(() => {
      down = true;
      for (const c of conns) c.end();
      if (state.afterReboot === "back") {
        setTimeout(() => {
          state.bootId = randomUUID();
          down = false;
        }, state.rebootMs);
      }
    }, 100);
  };

  const server = new Server({ hostKeys: [host] }, (client) => {
    if (down) {
      client.end();
      return;
    }
    conns.add(client);
    client.on("close", () => conns.delete(client));
    client.on("error", () => undefined);
    client.on("authentication", (ctx) => {
      if (ctx.method === "publickey" && allowed && ctx.key.algo === allowed.type && ctx.key.data.equals(allowed.getPublicSSH())) {
        if (!ctx.signature) return ctx.accept();
        return allowed.verify(ctx.blob!, ctx.signature, ctx.hashAlgo) ? ctx.accept() : ctx.reject();
      }
      if (ctx.method === "password" && opts.password !== undefined && ctx.password === opts.password) return ctx.accept();
      ctx.reject(["publickey", "password"]);
    });
    client.on("ready", () => {
      client.on("session", (accept) => {
        const session = accept();
        session.on("exec", (acceptExec, _reject, info) => {
          const stream = acceptExec();
          state.commands.push(info.command);
          if (info.command === "cat /proc/sys/kernel/random/boot_id") {
            stream.write(state.bootId + "\n");
            stream.exit(0);
            stream.end();
            return;
          }
          if (info.command.includes("systemctl reboot")) {
            stream.exit(0);
            stream.end();
            reboot();
            return;
          }
          if (info.command.includes("patchlab-test-drop-session")) {
            // The machine vanishes mid-command: no exit status ever arrives.
            setTimeout(() => client.end(), 50);
            return;
          }
          const p = spawn("sh", ["-c", info.command], { stdio: ["pipe", "pipe", "pipe"] });
          stream.pipe(p.stdin);
          p.stdout.on("data", (b: Buffer) => stream.write(b));
          p.stderr.on("data", (b: Buffer) => stream.stderr.write(b));
          stream.on("signal", () => p.kill("SIGKILL"));
          stream.on("close", () => { if (p.exitCode === null) p.kill("SIGKILL"); });
          p.on("close", (code, signal) => {
            if (signal) stream.exit(signal.replace(/^SIG/, ""), false, "");
            else stream.exit(code ?? 0);
            stream.end();
          });
        });
      });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", () => resolve()));
  state.port = (server.address() as AddressInfo).port;
  return state;
}
