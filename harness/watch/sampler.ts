// One sample of a machine from the inside, in one exec: every process (pid, parent, start
// time, CPU ticks, RSS, threads, name), the open file count, and what the sample itself
// cost in CPU (the machine's CPU counter around it), so the harness can report its own overhead. It reads
// /proc with sh, cat and awk only: every lab image has them.
import { LabError } from "../core/errors.ts";
import type { Connection } from "../lab/types.ts";

export interface Proc {
  pid: number;
  ppid: number;
  /** Start time in clock ticks since boot: (pid, start) identifies a process across pid reuse. */
  start: number;
  /** utime + stime, clock ticks. */
  ticks: number;
  rssKb: number;
  threads: number;
  comm: string;
}

export interface MachineSample {
  procs: Proc[];
  /** Open file descriptors of all processes (the sampler's shell's few included, same every time). */
  fds: number;
  /** Clock ticks per second. */
  hz: number;
  /** CPU the sample cost inside the machine (the shell and its children), ms. */
  costMs: number;
}

// The sampler's own shell and its children (cat, awk) are left out of the process list.
// Its cost: the machine's CPU counter (the container's cgroup; on a VM, the whole system's)
// read with the shell's builtin \`read\` before and after, so measuring costs nothing extra;
// an upper bound, as anything else running meanwhile counts too. \`times\` (10 ms ticks) is
// the fallback where no counter is readable.
export const SAMPLER_SCRIPT = String.raw`cgu() {
  if [ -r /sys/fs/cgroup/cpuacct/cpuacct.usage ]; then read u < /sys/fs/cgroup/cpuacct/cpuacct.usage; echo "$u"
  elif [ -r /sys/fs/cgroup/cpu,cpuacct/cpuacct.usage ]; then read u < /sys/fs/cgroup/cpu,cpuacct/cpuacct.usage; echo "$u"
  elif [ -r /sys/fs/cgroup/cpu.stat ]; then read k u < /sys/fs/cgroup/cpu.stat; echo "$((u * 1000))"
  fi
}
c0=$(cgu)
cd /proc || exit 1
me=$$
set -- [0-9]*/fd/[0-9]*
echo "F $#"
echo "H $(getconf CLK_TCK 2>/dev/null || echo 100)"
cat [0-9]*/stat 2>/dev/null | awk -v me="$me" '
{
  o = index($0, " (")
  match($0, /.*\) /)
  if (o == 0 || RSTART == 0) next
  comm = substr($0, o + 2, RLENGTH - o - 3)
  n = split(substr($0, RLENGTH + 1), f, " ")
  pid = $1; ppid = f[2]
  if (pid == me || ppid == me) next
  gsub(/[ \t]/, "_", comm)
  print "P", pid, ppid, f[20], f[12] + f[13], f[22] * 4, f[18], comm
}'
times | tr '\n' ' ' | sed 's/^/T /'
echo
c1=$(cgu)
[ -n "$c0" ] && [ -n "$c1" ] && echo "C $((c1 - c0))"
true`;

/** Parses `times` output ("0m0.010000s 0m0.000000s") into ms of CPU (all four figures summed). */
export function parseTimes(line: string): number {
  let ms = 0;
  for (const m of line.matchAll(/(\d+)m([\d.]+)s/g)) ms += Number(m[1]) * 60_000 + Number(m[2]) * 1000;
  return Math.round(ms * 10) / 10;
}

export function parseSample(out: string): MachineSample {
  const procs: Proc[] = [];
  let fds = 0;
  let hz = 100;
  let costMs = 0;
  for (const line of out.split("\n")) {
    const f = line.trim().split(/\s+/);
    if (f[0] === "F") fds = Number(f[1]) || 0;
    else if (f[0] === "H") hz = Number(f[1]) || 100;
    else if (f[0] === "T") costMs ||= parseTimes(line);
    else if (f[0] === "C") costMs = Math.round(Math.max(0, Number(f[1]) / 1e4)) / 100 || costMs;
    else if (f[0] === "P" && f.length >= 8) {
      procs.push({
        pid: Number(f[1]),
        ppid: Number(f[2]),
        start: Number(f[3]),
        ticks: Number(f[4]),
        rssKb: Number(f[5]),
        threads: Number(f[6]),
        comm: f.slice(7).join(" "),
      });
    }
  }
  return { procs, fds, hz, costMs };
}

export async function sampleMachine(conn: Connection): Promise<MachineSample> {
  const r = await conn.exec(["sh", "-c", SAMPLER_SCRIPT], { timeoutMs: 30_000 });
  if (r.exitCode !== 0) {
    throw new LabError("exec", `sampling processes on ${conn.machine} failed (exit ${r.exitCode}): ${r.stderr.trim().slice(0, 300)}`, "check that the machine is running and has sh, cat and awk", { machine: conn.machine });
  }
  const s = parseSample(r.stdout);
  if (s.procs.length === 0) throw new LabError("exec", `sampling processes on ${conn.machine} saw no process at all`, "check that /proc is readable in the machine", { machine: conn.machine });
  return s;
}
