// A machine's state, rich enough to say what a patch left behind: packages and versions, users
// and groups, every file (type, mode, owner, size, content hash, link target) under the watched
// trees minus declared volatile paths, services (enabled, running) and listening sockets.
// Taken in one exec (find + sha256sum) so it can run several times per patch; compared into a
// unified-diff-like text a person reads in an Allure attachment.
import { LabError } from "../core/errors.ts";
import type { Connection, MachineHandle } from "./types.ts";

/** Trees whose content is machine state. */
export const STATE_ROOTS = ["/etc", "/usr", "/var/lib", "/opt", "/srv", "/var/www", "/var/spool/cron"];

/**
 * Paths that change by themselves or that other sections already describe. Plain paths are
 * pruned (whole subtree); `*` matches within one path segment, `**` across segments.
 */
export const BASE_VOLATILE = [
  // Written by the engine at every start.
  "/etc/hosts", "/etc/hostname", "/etc/resolv.conf", "/etc/mtab",
  // useradd/userdel backups and lock; the users section says what changed.
  "/etc/*-", "/etc/.pwd.lock",
  // dpkg's own bookkeeping (the packages section says what is installed) and apt's caches.
  "/var/lib/dpkg/status", "/var/lib/dpkg/status-old", "/var/lib/dpkg/available-old", "/var/lib/dpkg/lock", "/var/lib/dpkg/lock-frontend", "/var/lib/dpkg/triggers/Lock",
  // dpkg's file-trigger registry (which package watches which path): dpkg rewrites it whenever a
  // package registers again, as a downgrade does; the packages section says what is installed.
  "/var/lib/dpkg/triggers/File",
  "/var/lib/apt/lists", "/var/lib/apt/periodic",
  // apt's auto-installed marks: naming a package to install or downgrade it (as the apt
  // provisioner must, to pin versions) marks it manual, and apt rewrites the file in a new order.
  "/var/lib/apt/extended_states",
  // ucf rotates numbered copies of its registry on every run.
  "/var/lib/ucf/*.[0-9]",
  "/var/lib/logrotate",
  // What systemd rewrites at every boot and shutdown (a machine that really reboots: a VM, a server).
  "/var/lib/systemd/random-seed", "/var/lib/systemd/timers", "/var/lib/systemd/timesync/clock",
  "**/__pycache__",
];

/** Runtime data of each server role: it changes while the service runs, not because of a patch. */
export const ROLE_VOLATILE: Record<string, string[]> = {
  web: ["/var/lib/nginx"],
  db: ["/var/lib/postgresql"],
  file: ["/var/lib/samba"],
  dns: ["/var/lib/bind"],
  // The wiki's content (pages, their history and metadata) is what its users and the wiki suite write.
  app: ["/var/lib/php/sessions", "/var/lib/dokuwiki/data"],
};

/** Volatile paths of a lab machine: the base list plus its roles' runtime data. */
export function volatileFor(m: Pick<MachineHandle, "spec">, extra: string[] = []): string[] {
  return [...BASE_VOLATILE, ...m.spec.roles.flatMap((r) => ROLE_VOLATILE[r] ?? []), ...extra];
}

export interface MachineState {
  /** "name[:arch]" -> version ("version (rc)" when not fully installed). */
  packages: Record<string, string>;
  /** user -> "uid=.. gid=.. home=.. shell=..". */
  users: Record<string, string>;
  /** group -> "gid=.. members=..". */
  groups: Record<string, string>;
  /** path -> "f 0644 root:root 1234 sha256:..." | "l 0777 root:root -> target" | "d 0755 root:root". */
  files: Record<string, string>;
  /** service (from /etc/patchlab/services) -> "running" | "stopped". */
  services: Record<string, string>;
  /** "tcp/80", "udp/53". */
  listening: string[];
  /** Bytes of the regular files watched (to measure disk use). */
  bytes: number;
  /** The volatile paths left out: a diff leaves out what either side left out. */
  volatile: string[];
  /** Boot token and per-file "inode:ctime" stamps: a later state of the same boot reuses unchanged files' hashes. */
  boot?: string;
  stamps?: Record<string, string>;
}

const SEP = "--patchlab-state--";
/** 127.0.0.11 as /proc/net/tcp writes it: Docker's embedded DNS, on random ports per container. */
const DOCKER_DNS_HEX = "0B00007F";

const isGlob = (p: string) => p.includes("*") || p.includes("?") || p.includes("[");
const sq = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

/**
 * The one script that prints every section. Stdin carries what an earlier state of the same
 * boot knew: its boot token, then "stamp<TAB>size<TAB>path<TAB>sha256" lines. A file whose
 * inode, ctime and size are unchanged since is not read again (a rewrite, rename or chmod
 * always changes them), so only the first state of a boot hashes every file.
 */
export function stateScript(roots: string[], volatile: string[], fsToken?: string): string {
  const prune = volatile.filter((p) => !isGlob(p));
  const pruneExpr = prune.length ? `\\( ${prune.map((p) => `-path ${sq(p)}`).join(" -o ")} \\) -prune -o` : "";
  const rootList = `$(for r in ${roots.map(sq).join(" ")}; do [ -e "$r" ] && echo "$r"; done)`;
  return [
    "export LC_ALL=C",
    // The boot token: PID 1's start time; another boot (a restart, a restored container) knows
    // nothing. A caller that knows the files live on one filesystem across boots passes its own.
    fsToken ? `B=${sq(fsToken)}` : "B=$(cut -d' ' -f22 /proc/1/stat)",
    'K=$(mktemp) M=$(mktemp) L=$(mktemp); trap \'rm -f "$K" "$M" "$L"\' EXIT',
    'IFS= read -r kb || kb=""',
    'if [ "$kb" = "$B" ]; then cat > "$K"; else cat > /dev/null; fi',
    "dpkg-query -W -f='${binary:Package}\\t${Version}\\t${db:Status-Abbrev}\\n' 2>/dev/null",
    `echo ${SEP}`,
    "cat /etc/passwd",
    `echo ${SEP}`,
    "cat /etc/group",
    `echo ${SEP}`,
    'echo "$B"',
    `echo ${SEP}`,
    `R=${rootList}`,
    `[ -n "$R" ] && find $R -xdev ${pruneExpr} \\( -type f -o -type l -o -type d \\) -printf '%y\\t%m\\t%u:%g\\t%s\\t%p\\t%l\\t%i:%C@\\n' > "$M"`,
    'cat "$M"',
    `echo ${SEP}`,
    // Known hashes of unchanged files are printed as sha256sum would; the rest are read.
    `awk -F'\\t' -v K="$K" -v L="$L" 'FILENAME == K { k[$3] = $1 "\\t" $2; h[$3] = $4; next } $1 == "f" { if (($5 in k) && k[$5] == $7 "\\t" $4) print h[$5] "  " $5; else print $5 > L }' "$K" "$M"`,
    'xargs -d "\\n" -r sha256sum < "$L"',
    `echo ${SEP}`,
    "if [ -f /etc/patchlab/services ]; then for s in $(sed -e 's/#.*//' /etc/patchlab/services); do",
    '  if [ -x "/etc/init.d/$s" ] && "/etc/init.d/$s" status >/dev/null 2>&1; then echo "$s running"; else echo "$s stopped"; fi; done; fi',
    `echo ${SEP}`,
    "cat /proc/net/tcp /proc/net/tcp6 2>/dev/null | awk '$4==\"0A\" {print \"tcp\", $2}'",
    "cat /proc/net/udp /proc/net/udp6 2>/dev/null | awk '$4==\"07\" {print \"udp\", $2}'",
    "true",
  ].join("\n");
}

/** What a later state of the same boot may reuse: the boot token, then each regular file's stamp, size, path and hash. */
export function knownHashes(s: MachineState | undefined): string {
  if (!s?.boot || !s.stamps) return "\n";
  const lines = [s.boot];
  for (const [p, stamp] of Object.entries(s.stamps)) {
    const m = /^f \S+ \S+ (\d+) sha256:([0-9a-f]{64})$/.exec(s.files[p] ?? "");
    if (m) lines.push(`${stamp}\t${m[1]}\t${p}\t${m[2]}`);
  }
  return lines.join("\n") + "\n";
}

/** A glob of the volatile list as a regular expression over whole paths. */
export function globToRegExp(glob: string): RegExp {
  let re = "";
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i]!;
    if (c === "*" && glob[i + 1] === "*") {
      re += ".*";
      i++;
    } else if (c === "*") re += "[^/]*";
    else if (c === "?") re += "[^/]";
    else if (c === "[") {
      const end = glob.indexOf("]", i);
      re += end > i ? glob.slice(i, end + 1) : "\\[";
      if (end > i) i = end;
    } else re += c.replace(/[.+^${}()|\\]/g, "\\$&");
  }
  // A volatile folder covers what is under it.
  return new RegExp(`^${re}(/.*)?$`);
}

export function parseState(out: string, volatile: string[] = BASE_VOLATILE): MachineState {
  const sections = out.split(`${SEP}\n`);
  // Older output had no boot section: 7 sections instead of 8.
  if (sections.length === 7) sections.splice(3, 0, "");
  const [pk = "", passwd = "", group = "", boot = "", meta = "", hashes = "", services = "", socks = ""] = sections;
  const skip = volatileMatcher(volatile);

  const packages: Record<string, string> = {};
  for (const line of pk.split("\n")) {
    const [name, version, status] = line.split("\t");
    const st = status?.trim();
    // Packages dpkg no longer knows anything about ("un", "pn") are not state.
    if (!name || version === undefined || !st || st === "un" || st === "pn") continue;
    packages[name] = st === "ii" ? version : `${version} (${st})`;
  }
  const users: Record<string, string> = {};
  for (const line of passwd.split("\n")) {
    const f = line.split(":");
    if (f.length >= 7 && f[0]) users[f[0]] = `uid=${f[2]} gid=${f[3]} home=${f[5]} shell=${f[6]}`;
  }
  const groups: Record<string, string> = {};
  for (const line of group.split("\n")) {
    const f = line.split(":");
    if (f.length >= 4 && f[0]) groups[f[0]] = `gid=${f[2]} members=${f[3]}`;
  }
  const sha = new Map<string, string>();
  for (const line of hashes.split("\n")) {
    const m = /^([0-9a-f]{64}) [ *](.+)$/.exec(line);
    if (m) sha.set(m[2]!, m[1]!);
  }
  const files: Record<string, string> = {};
  const stamps: Record<string, string> = {};
  let bytes = 0;
  for (const line of meta.split("\n")) {
    const [type, mode, owner, size, p, target, stamp] = line.split("\t");
    if (!type || !p || skip(p)) continue;
    const perm = (mode ?? "").padStart(4, "0");
    if (type === "f") {
      bytes += Number(size) || 0;
      files[p] = `f ${perm} ${owner} ${size} sha256:${sha.get(p) ?? "unreadable"}`;
      if (stamp && sha.has(p)) stamps[p] = stamp;
    } else if (type === "l") files[p] = `l ${owner} -> ${target}`;
    else if (type === "d") files[p] = `d ${perm} ${owner}`;
  }
  const svc: Record<string, string> = {};
  for (const line of services.split("\n")) {
    const m = /^(\S+) (running|stopped)$/.exec(line.trim());
    if (m) svc[m[1]!] = m[2]!;
  }
  const listening = new Set<string>();
  for (const line of socks.split("\n")) {
    const m = /^(tcp|udp) ([0-9A-F]+):([0-9A-F]{4})$/.exec(line.trim());
    if (m && m[2] !== DOCKER_DNS_HEX) listening.add(`${m[1]}/${parseInt(m[3]!, 16)}`);
  }
  const b = boot.trim();
  return { packages, users, groups, files, services: svc, listening: [...listening].sort(), bytes, volatile: [...volatile], ...(b ? { boot: b, stamps } : {}) };
}

/** Whether a path is volatile (under a plain path, or matching a glob). */
export function volatileMatcher(volatile: string[]): (p: string) => boolean {
  const globs = volatile.filter(isGlob).map(globToRegExp);
  const exact = volatile.filter((p) => !isGlob(p));
  return (p) => globs.some((g) => g.test(p)) || exact.some((e) => p === e || p.startsWith(e + "/"));
}

export interface StateOptions {
  roots?: string[];
  volatile?: string[];
  timeoutMs?: number;
  /** An earlier state of the machine: files unchanged since are not hashed again (same boot only). */
  since?: MachineState;
  /**
   * Reuse hashes across boots that share one filesystem, named by this token, instead of within
   * one boot. A container and the containers restored from its snapshots are such a lineage: a
   * file of an image layer keeps its inode and ctime in every container made from that layer,
   * and anything written gets a new ctime (copy-up included), so an unchanged stamp is an
   * unchanged file. Not for VMs or servers, whose restored disks may reuse stamps.
   */
  fsToken?: string;
}

/** Take a machine's state (one exec). */
export async function machineState(conn: Connection, opts: StateOptions = {}): Promise<MachineState> {
  const roots = opts.roots ?? STATE_ROOTS;
  const volatile = opts.volatile ?? BASE_VOLATILE;
  const r = await conn.exec(["sh", "-c", stateScript(roots, volatile, opts.fsToken)], { timeoutMs: opts.timeoutMs ?? 120_000, stdin: knownHashes(opts.since) });
  if (r.exitCode !== 0 || !r.stdout.includes(SEP)) {
    throw new LabError("exec", `state of ${conn.machine} could not be taken (exit ${r.exitCode}): ${r.stderr.slice(0, 300)}`, "the image needs sh, dpkg-query, find, xargs, sha256sum and awk", { machine: conn.machine });
  }
  return parseState(r.stdout, volatile);
}

export type Section = "packages" | "users" | "groups" | "files" | "services" | "listening";

export interface StateChange {
  section: Section;
  key: string;
  before?: string;
  after?: string;
}

export interface StateDiff {
  equal: boolean;
  changes: StateChange[];
  /** Bytes of watched regular files after minus before. */
  bytesDelta: number;
}

const SECTIONS: Exclude<Section, "listening">[] = ["packages", "users", "groups", "services", "files"];

export function diffStates(a: MachineState, b: MachineState): StateDiff {
  const changes: StateChange[] = [];
  // States taken with different volatile lists compare on what both watched.
  const extra = [...new Set([...(a.volatile ?? []), ...(b.volatile ?? [])])];
  const skip = volatileMatcher(extra);
  let bytes = 0;
  for (const section of SECTIONS) {
    const x = a[section], y = b[section];
    for (const key of [...new Set([...Object.keys(x), ...Object.keys(y)])].sort()) {
      if (section === "files" && skip(key)) {
        bytes += sizeOf(y[key]) - sizeOf(x[key]);
        continue;
      }
      if (x[key] !== y[key]) changes.push({ section, key, ...(x[key] !== undefined ? { before: x[key] } : {}), ...(y[key] !== undefined ? { after: y[key] } : {}) });
    }
  }
  const la = new Set(a.listening), lb = new Set(b.listening);
  for (const s of [...new Set([...la, ...lb])].sort()) {
    if (la.has(s) !== lb.has(s)) changes.push({ section: "listening", key: s, ...(la.has(s) ? { before: "listening" } : { after: "listening" }) });
  }
  return { equal: changes.length === 0, changes, bytesDelta: b.bytes - a.bytes - bytes };
}

/** Size of a regular file's state entry ("f 0644 root:root 1234 sha256:..."); 0 for anything else. */
function sizeOf(entry: string | undefined): number {
  const m = entry ? /^f \S+ \S+ (\d+) /.exec(entry) : null;
  return m ? Number(m[1]) : 0;
}

/** One line per change, for messages: "file /etc/x: added", "package nginx: 1.0 -> 1.1". */
export function summarize(d: StateDiff, max = 10): string {
  const noun: Record<Section, string> = { packages: "package", users: "user", groups: "group", files: "file", services: "service", listening: "socket" };
  const lines = d.changes.map((c) => {
    const what = c.before === undefined ? "added" : c.after === undefined ? "removed" : c.section === "files" ? "changed" : `${c.before} -> ${c.after}`;
    return `${noun[c.section]} ${c.key}: ${c.section === "listening" ? (c.after ? "newly listening" : "no longer listening") : what}`;
  });
  return lines.length > max ? [...lines.slice(0, max), `... and ${lines.length - max} more`].join("; ") : lines.join("; ");
}

/**
 * The diff as text a person reads (unified-diff style): a hunk per section, `-` the state
 * before, `+` the state after; a changed entry shows both lines.
 */
export function renderDiff(d: StateDiff, labels: { before: string; after: string }, maxLines = 2000): string {
  const out = [`--- ${labels.before}`, `+++ ${labels.after}`];
  let section: Section | undefined;
  let n = 0;
  for (const c of d.changes) {
    if (c.section !== section) {
      section = c.section;
      out.push(`@@ ${section} @@`);
    }
    if (c.before !== undefined) out.push(`-${c.key}  ${c.before}`);
    if (c.after !== undefined) out.push(`+${c.key}  ${c.after}`);
    if (++n >= maxLines) {
      out.push(`@@ ... ${d.changes.length - n} more change(s) not shown @@`);
      break;
    }
  }
  if (d.changes.length === 0) out.push("(no difference)");
  return out.join("\n") + "\n";
}
