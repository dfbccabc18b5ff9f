// Peak memory of a process tree, sampled from /proc: the harness and everything it starts
// (suite processes, docker CLI calls). Resident set sizes are summed over the tree at each
// sample; the peak of that sum is the figure (shared pages count once per process: an upper bound).
import fs from "node:fs";

const PAGE = 4096;

interface Proc { pid: number; ppid: number; rssBytes: number; }

function readProcs(): Proc[] {
  const out: Proc[] = [];
  for (const d of fs.readdirSync("/proc")) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${d}/stat`, "utf8");
      // The command name (field 2) may hold spaces and parentheses: split after its last ')'.
      const rest = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      out.push({ pid: Number(d), ppid: Number(rest[1]), rssBytes: Number(rest[21]) * PAGE });
    } catch {
      /* the process ended between readdir and read */
    }
  }
  return out;
}

/** Resident bytes of `root` alone and of its whole tree, now. */
export function treeRss(root: number): { main: number; tree: number; processes: number } {
  const procs = readProcs();
  const children = new Map<number, Proc[]>();
  for (const p of procs) children.set(p.ppid, [...(children.get(p.ppid) ?? []), p]);
  const self = procs.find((p) => p.pid === root);
  if (!self) return { main: 0, tree: 0, processes: 0 };
  let tree = 0;
  let n = 0;
  const todo = [self];
  while (todo.length) {
    const p = todo.pop()!;
    tree += p.rssBytes;
    n++;
    todo.push(...(children.get(p.pid) ?? []));
  }
  return { main: self.rssBytes, tree, processes: n };
}

export interface RssPeak { mainMb: number; treeMb: number; maxProcesses: number; samples: number; }

/** Samples `pid`'s tree every `everyMs` until stopped; stop() gives the peaks. */
export function sampleRss(pid: number, everyMs = 100): { stop(): RssPeak } {
  const peak = { main: 0, tree: 0, processes: 0, samples: 0 };
  const take = () => {
    const r = treeRss(pid);
    peak.main = Math.max(peak.main, r.main);
    peak.tree = Math.max(peak.tree, r.tree);
    peak.processes = Math.max(peak.processes, r.processes);
    peak.samples++;
  };
  take();
  const timer = setInterval(take, everyMs);
  return {
    stop() {
      clearInterval(timer);
      return { mainMb: peak.main / 2 ** 20, treeMb: peak.tree / 2 ** 20, maxProcesses: peak.processes, samples: peak.samples };
    },
  };
}
