// A second Docker engine on this host for the several-engines tests: its own dockerd with its
// own data root, exec root (so its own managed containerd, apart from the main engine's),
// pidfile and unix socket, no default bridge, and no iptables management: a dockerd that
// manages iptables rewrites the shared DOCKER chains on start, which would disturb the main
// engine's networks. Its default bridge is a bridge of its own, made here: with --bridge=none
// dockerd deletes the host's docker0 (the main engine's default bridge, which its image builds
// need) as it starts. Its lab network's own traffic is let through with one DOCKER-USER rule on
// the lab subnet (the host's FORWARD policy is DROP, and bridged traffic goes through it),
// removed again by stop(). stop() also removes its data: nothing is left on the host.
import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import Docker from "dockerode";

export interface SecondEngine {
  url: string;
  docker: Docker;
  /** Stops dockerd (SIGTERM, then SIGKILL), waiting for it to exit. */
  kill(signal?: NodeJS.Signals): Promise<void>;
  /** Starts dockerd again on the same data (after kill). */
  start(): Promise<void>;
  /** Stops it and removes its data, socket and firewall rule. */
  stop(): Promise<void>;
}

export async function startSecondEngine(o: { name: string; subnet: string; bridgeCidr: string }): Promise<SecondEngine> {
  const execRoot = `/run/${o.name}`;
  const dataRoot = `/var/lib/${o.name}`;
  const socket = `${execRoot}/docker.sock`;
  const pidfile = `/run/${o.name}.pid`;
  const log = `/tmp/${o.name}-dockerd.log`;
  // A bridge interface name is at most 15 characters.
  const bridge = `plbr-${o.name.replace(/[^a-z0-9]/gi, "").slice(-10)}`;
  const rule = ["DOCKER-USER", "-s", o.subnet, "-d", o.subnet, "-j", "ACCEPT", "-m", "comment", "--comment", o.name];
  let proc: ChildProcess | undefined;
  const docker = new Docker({ socketPath: socket });

  const start = async () => {
    fs.mkdirSync(execRoot, { recursive: true });
    try {
      execFileSync("ip", ["link", "show", bridge], { stdio: "ignore" });
    } catch {
      execFileSync("ip", ["link", "add", bridge, "type", "bridge"], { stdio: "pipe" });
      execFileSync("ip", ["addr", "add", o.bridgeCidr, "dev", bridge], { stdio: "pipe" });
      execFileSync("ip", ["link", "set", bridge, "up"], { stdio: "pipe" });
    }
    fs.writeFileSync(`${execRoot}/daemon.json`, "{}\n");
    const out = fs.openSync(log, "a");
    proc = spawn(
      "dockerd",
      [
        `--data-root=${dataRoot}`, `--exec-root=${execRoot}`, `--pidfile=${pidfile}`, `--host=unix://${socket}`,
        `--bridge=${bridge}`, "--iptables=false", "--ip-masq=false", "--ip-forward=false", "--userland-proxy=false",
        // Its own (empty) config: the main engine's /etc/docker/daemon.json is not for it.
        `--config-file=${execRoot}/daemon.json`,
      ],
      { stdio: ["ignore", out, out] },
    );
    fs.closeSync(out);
    const t0 = Date.now();
    for (;;) {
      try {
        await docker.ping();
        return;
      } catch {
        if (proc.exitCode !== null) throw new Error(`second dockerd exited (${proc.exitCode}); see ${log}:\n${fs.readFileSync(log, "utf8").slice(-2000)}`);
        if (Date.now() - t0 > 60_000) throw new Error(`second dockerd did not answer within 60 s; see ${log}`);
        await new Promise((r) => setTimeout(r, 250));
      }
    }
  };

  const kill = async (signal: NodeJS.Signals = "SIGTERM") => {
    const p = proc;
    if (!p || p.exitCode !== null || p.signalCode !== null) return;
    const exited = new Promise<void>((r) => p.once("exit", () => r()));
    p.kill(signal);
    const timer = setTimeout(() => p.kill("SIGKILL"), 20_000);
    await exited;
    clearTimeout(timer);
  };

  const stop = async () => {
    // Containers first, so the engine's containerd and shims go down with it (no orphans).
    try {
      for (const c of await docker.listContainers({ all: true })) await docker.getContainer(c.Id).remove({ force: true }).catch(() => undefined);
    } catch { /* engine already down */ }
    await kill("SIGTERM");
    try {
      execFileSync("iptables", ["-D", ...rule], { stdio: "ignore" });
    } catch { /* not there */ }
    // Mounts (overlay layers, netns) under its roots are released by dockerd on exit; anything
    // still mounted there is unmounted before the data goes.
    try {
      const mounts = fs.readFileSync("/proc/mounts", "utf8").split("\n").map((l) => l.split(" ")[1] ?? "").filter((m) => m.startsWith(dataRoot) || m.startsWith(execRoot));
      for (const m of mounts.reverse()) execFileSync("umount", ["-l", m], { stdio: "ignore" });
    } catch { /* nothing mounted */ }
    try {
      execFileSync("ip", ["link", "delete", bridge], { stdio: "ignore" });
    } catch { /* not there */ }
    fs.rmSync(dataRoot, { recursive: true, force: true });
    fs.rmSync(execRoot, { recursive: true, force: true });
    fs.rmSync(pidfile, { force: true });
  };

  await start();
  execFileSync("iptables", ["-I", ...rule], { stdio: "pipe" });
  return { url: `unix://${socket}`, docker, kill, start, stop };
}
