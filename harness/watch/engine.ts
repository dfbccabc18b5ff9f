// The Docker engine's view of a lab machine, for the watchers: CPU and memory as the
// engine accounts for the container (dockerode stats), the container's stdout/stderr, and
// the size of its writable layer. Looked up by name each time: a restore recreates it.
import type Docker from "dockerode";
import { LabError } from "../core/errors.ts";
import type { EngineProbe, EngineStats } from "./types.ts";

/** Memory the processes hold, without page cache: cgroup v2 `anon`, v1 `total_rss`, else usage minus inactive file pages. */
export function memoryBytes(m: Docker.ContainerStats["memory_stats"]): number {
  const s = (m.stats ?? {}) as Record<string, number | undefined>;
  if (typeof s.anon === "number") return s.anon;
  if (typeof s.total_rss === "number") return s.total_rss;
  if (typeof s.rss === "number") return s.rss;
  return Math.max(0, (m.usage ?? 0) - (s.total_inactive_file ?? s.inactive_file ?? 0));
}

/** Splits the engine's multiplexed log stream (8-byte frame headers) into timestamped lines. */
export function demuxLogs(buf: Buffer): { at: number; stream: "stdout" | "stderr"; line: string }[] {
  const out: { at: number; stream: "stdout" | "stderr"; line: string }[] = [];
  const pending: Record<"stdout" | "stderr", string> = { stdout: "", stderr: "" };
  let i = 0;
  const looksFramed = buf.length >= 8 && (buf[0] === 1 || buf[0] === 2) && buf[1] === 0 && buf[2] === 0 && buf[3] === 0;
  if (!looksFramed) {
    pending.stdout = buf.toString("utf8");
  } else {
    while (i + 8 <= buf.length) {
      const stream = buf[i] === 2 ? "stderr" : "stdout";
      const size = buf.readUInt32BE(i + 4);
      pending[stream] += buf.subarray(i + 8, i + 8 + size).toString("utf8");
      i += 8 + size;
    }
  }
  for (const stream of ["stdout", "stderr"] as const) {
    for (const raw of pending[stream].split("\n")) {
      if (!raw) continue;
      const sp = raw.indexOf(" ");
      const at = Date.parse(raw.slice(0, sp));
      if (sp < 0 || Number.isNaN(at)) out.push({ at: 0, stream, line: raw });
      else out.push({ at, stream, line: raw.slice(sp + 1) });
    }
  }
  return out.sort((a, b) => a.at - b.at);
}

/** The engine probe of one container. */
export function dockerEngineProbe(docker: Docker, container: string, machine: string): EngineProbe {
  const c = () => docker.getContainer(container);
  const fail = (what: string, e: unknown) =>
    new LabError("exec", `engine ${what} of ${machine} failed: ${(e as Error).message}`, "check that the machine is running (`patchlab lab status`)", { machine }, { cause: e });
  return {
    async stats(): Promise<EngineStats> {
      let s: Docker.ContainerStats;
      try {
        // one-shot: no second sample by the engine (~1 s); CPU rates come from our own samples.
        s = await c().stats({ stream: false, "one-shot": true });
      } catch (e) {
        throw fail("stats", e);
      }
      if (!s.cpu_stats?.cpu_usage) throw fail("stats", new Error("no CPU figures: is the container running?"));
      // The engine's own read time: the call itself may wait up to a second for fresh figures.
      const read = Date.parse((s as { read?: string }).read ?? "");
      return { at: read > 0 ? read : Date.now(), cpuNs: s.cpu_stats.cpu_usage.total_usage, memBytes: memoryBytes(s.memory_stats) };
    },
    async logs(fromMs, toMs) {
      let buf: Buffer;
      try {
        buf = await c().logs({ stdout: true, stderr: true, timestamps: true, follow: false, since: Math.floor(fromMs / 1000), until: Math.ceil(toMs / 1000) + 1 });
      } catch (e) {
        throw fail("logs", e);
      }
      return demuxLogs(Buffer.isBuffer(buf) ? buf : Buffer.from(String(buf))).filter((l) => l.at >= fromMs && l.at <= toMs);
    },
    async diskBytes() {
      try {
        const info = (await c().inspect({ size: true } as object)) as { SizeRw?: number };
        return typeof info.SizeRw === "number" ? info.SizeRw : undefined;
      } catch (e) {
        throw fail("inspect", e);
      }
    },
  };
}
