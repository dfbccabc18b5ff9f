// Restart detection: after an install, which processes still run old code (they map a
// library or run a binary the update replaced: deleted files in /proc/<pid>/maps and exe),
// which lab services they belong to (/etc/patchlab/services, their pid files), and so what
// must restart: those services, or the machine (init itself is stale, the installer or
// Debian's /run/reboot-required says so, or the manifest declares it). Then restart, wait for
// readiness, and judge: a service or machine that does not come back is the patch's failure
// only when the lab itself is healthy; otherwise it is a lab error.
import { asPatchlabError, LabError } from "../core/errors.ts";
import { shq } from "../lab/roles/common.ts";
import type { Lab } from "../config/schemas.ts";
import type { Connection, LabDriver } from "../lab/types.ts";
import { lastLines, query, runStep } from "./exec.ts";
import type { PatchArtifact } from "./types.ts";

/** Where code lives: a deleted mapping elsewhere (/tmp, /dev/zero, memfd) is not old code. */
const CODE_PATHS = "^/(usr|lib|lib32|lib64|libx32|bin|sbin|opt)/";

export interface StaleProcess {
  pid: number;
  ppid: number;
  comm: string;
  /** Replaced files it still maps or runs (the executable first when it is one of them). */
  files: string[];
  /** The lab service it belongs to; undefined for init and processes of no service. */
  service?: string;
}

export interface RestartScan {
  stale: StaleProcess[];
  /** Services with stale processes, in /etc/patchlab/services order. */
  services: string[];
  /** Stale processes of no service (init, its shell): only a machine restart renews them. */
  unowned: StaleProcess[];
  /** Debian's flag file /run/reboot-required exists. */
  rebootRequired: boolean;
  /** Package owning each replaced file, where dpkg knows it. */
  owners: Record<string, string>;
  /** Services listed in /etc/patchlab/services and whether each runs. */
  serviceState: Record<string, "running" | "stopped">;
}

const SEP = "--patchlab-restart--";

/** One exec: stale processes, the process tree, pid files, services and what their init scripts mention. */
export function scanScript(): string {
  return [
    "export LC_ALL=C",
    "me=$$",
    "for d in /proc/[0-9]*; do",
    "  pid=${d#/proc/}; [ \"$pid\" = \"$me\" ] && continue",
    "  st=$(cat $d/stat 2>/dev/null) || continue",
    // The process tree: "T pid ppid" for every process.
    "  ppid=$(awk '/^PPid:/ {print $2}' $d/status 2>/dev/null); echo \"T $pid $ppid\"",
    "  exe=$(readlink $d/exe 2>/dev/null) || continue", // kernel threads and foreign processes have none
    `  del=$( { case "$exe" in *" (deleted)") echo "\${exe% (deleted)}";; esac; sed -n 's#^[^/]*\\(/.*\\) (deleted)$#\\1#p' $d/maps 2>/dev/null; } | grep -E '${CODE_PATHS}' | awk '!seen[$0]++')`,
    '  [ -n "$del" ] || continue',
    '  echo "P $pid $ppid $(cat $d/comm 2>/dev/null)"',
    '  printf "%s\\n" "$del" | sed "s/^/F /"',
    "done",
    `echo ${SEP}`,
    "find /run -xdev -name '*.pid' -type f 2>/dev/null | while read -r f; do echo \"$f $(head -n1 \"$f\" 2>/dev/null | tr -dc 0-9)\"; done",
    `echo ${SEP}`,
    "S=$( [ -f /etc/patchlab/services ] && sed -e 's/#.*//' /etc/patchlab/services )",
    "for s in $S; do",
    '  if [ -x "/etc/init.d/$s" ] && "/etc/init.d/$s" status >/dev/null 2>&1; then st=running; else st=stopped; fi',
    '  echo "S $s $st"',
    // Run-time paths the init script names: pid files or their folders.
    "  [ -f \"/etc/init.d/$s\" ] && grep -oE '/(var/)?run/[A-Za-z0-9_.@/-]+' \"/etc/init.d/$s\" | sort -u | sed \"s#^#M $s #\"",
    "done",
    `echo ${SEP}`,
    "[ -e /run/reboot-required ] && echo reboot-required",
    `echo ${SEP}`,
    "true",
  ].join("\n");
}

/** dpkg's owners of the replaced files, in one more exec (only when there are some). */
async function ownersOf(conn: Connection, files: string[]): Promise<Record<string, string>> {
  if (!files.length) return {};
  const r = await query(conn, `dpkg-query -S ${files.map(shq).join(" ")} 2>/dev/null; true`);
  const out: Record<string, string> = {};
  for (const line of r.stdout.split("\n")) {
    const m = /^([^:]+(?::[a-z0-9]+)?): (\/.+)$/.exec(line.trim());
    if (m) for (const f of m[2]!.split(", ")) out[f] = m[1]!.split(":")[0]!;
  }
  // dpkg knows /lib/... under /usr/lib/... and the other way round (merged /usr).
  for (const f of files) {
    if (out[f]) continue;
    const alt = f.startsWith("/usr/") ? f.slice(4) : `/usr${f}`;
    if (out[alt]) out[f] = out[alt]!;
  }
  return out;
}

export function parseScan(out: string): Omit<RestartScan, "owners"> {
  const [procs = "", pidfiles = "", svc = "", flags = ""] = out.split(`${SEP}\n`);
  const parent = new Map<number, number>();
  const stale: StaleProcess[] = [];
  let cur: StaleProcess | undefined;
  for (const line of procs.split("\n")) {
    const t = /^T (\d+) (\d+)$/.exec(line);
    if (t) {
      parent.set(Number(t[1]), Number(t[2]));
      continue;
    }
    const p = /^P (\d+) (\d+) ?(.*)$/.exec(line);
    if (p) {
      cur = { pid: Number(p[1]), ppid: Number(p[2]), comm: p[3] ?? "", files: [] };
      stale.push(cur);
      continue;
    }
    if (line.startsWith("F ") && cur) cur.files.push(line.slice(2));
  }
  const pidOf = new Map<string, number>();
  for (const line of pidfiles.split("\n")) {
    const m = /^(\/\S+) (\d+)$/.exec(line.trim());
    if (m) pidOf.set(m[1]!, Number(m[2]));
  }
  const services: string[] = [];
  const serviceState: Record<string, "running" | "stopped"> = {};
  const mentions = new Map<string, string[]>();
  for (const line of svc.split("\n")) {
    const s = /^S (\S+) (running|stopped)$/.exec(line);
    if (s) {
      services.push(s[1]!);
      serviceState[s[1]!] = s[2] as "running" | "stopped";
      continue;
    }
    const m = /^M (\S+) (\S+)$/.exec(line);
    if (m) mentions.set(m[1]!, [...(mentions.get(m[1]!) ?? []), m[2]!.replace(/^\/var\/run\//, "/run/").replace(/\/+$/, "")]);
  }
  // A pid file is a service's when its name or folder is the service's name, or its init script names it (or its folder).
  const servicePids = new Map<number, string>();
  for (const [file, pid] of pidOf) {
    const base = file.split("/").at(-1)!.replace(/\.pid$/, "");
    const dir = file.split("/").at(-2) ?? "";
    const owner =
      services.find((s) => s === base || s === dir) ??
      services.find((s) => (mentions.get(s) ?? []).some((m) => m === file || file.startsWith(m + "/")));
    if (owner) servicePids.set(pid, owner);
  }
  const serviceOf = (pid: number): string | undefined => {
    for (let p: number | undefined = pid, hops = 0; p && hops < 64; p = parent.get(p), hops++) {
      const s = servicePids.get(p);
      if (s) return s;
    }
    return undefined;
  };
  for (const p of stale) {
    const s = serviceOf(p.pid);
    if (s) p.service = s;
  }
  // Processes started by `docker exec` (parent 0, not PID 1) are harness sessions, not the machine's.
  const machineStale = stale.filter((p) => p.pid === 1 || p.ppid !== 0);
  const withService = new Set(machineStale.map((p) => p.service).filter((s): s is string => !!s));
  return {
    stale: machineStale,
    services: services.filter((s) => withService.has(s)),
    unowned: machineStale.filter((p) => !p.service),
    rebootRequired: /^reboot-required$/m.test(flags),
    serviceState,
  };
}

/** Scan a machine for processes running replaced code. */
export async function scanRestart(conn: Connection): Promise<RestartScan> {
  const r = await query(conn, ["sh", "-c", scanScript()], 60_000);
  if (r.exitCode !== 0 || !r.stdout.includes(SEP)) {
    throw new LabError("exec", `restart scan of ${conn.machine} failed (exit ${r.exitCode}): ${lastLines(r.stderr)}`, "the image needs sh, awk, sed, grep and find", { machine: conn.machine });
  }
  const scan = parseScan(r.stdout);
  const owners = await ownersOf(conn, [...new Set(scan.stale.flatMap((p) => p.files))]);
  return { ...scan, owners };
}

export interface RestartDecision {
  needed: "none" | "services" | "machine";
  /** Services to restart (when not the whole machine). */
  services: string[];
  /** Why, one line each, for people. */
  reasons: string[];
  /** A restart is needed but the manifest(s) declared none. */
  undeclared: boolean;
  /** Patches whose packages own the replaced files (to name who needed the restart). */
  causedBy: string[];
}

/**
 * What must restart after an install. `before` is a scan taken before it, so what was already
 * stale (or an old /run/reboot-required) is not put on the patch.
 */
export function decideRestart(
  after: RestartScan,
  opts: { declared: "none" | "machine"; installerSaysRestart?: boolean; before?: RestartScan; artifacts?: PatchArtifact[] },
): RestartDecision {
  const key = (p: StaleProcess, f: string) => `${p.pid}\u0000${f}`;
  const old = new Set((opts.before?.stale ?? []).flatMap((p) => p.files.map((f) => key(p, f))));
  const fresh = after.stale.map((p) => ({ ...p, files: p.files.filter((f) => !old.has(key(p, f))) })).filter((p) => p.files.length);
  const reasons: string[] = [];
  const describe = (ps: StaleProcess[]) => {
    const p = ps[0]!;
    const files = [...new Set(ps.flatMap((x) => x.files))];
    const who = p.service ? `service ${p.service}` : p.pid === 1 ? "init (PID 1)" : "a process of no service";
    return `${who} (pid ${ps.map((x) => x.pid).join(", ")} ${p.comm}) still runs replaced ${files.slice(0, 3).join(", ")}${files.length > 3 ? ` and ${files.length - 3} more` : ""}${ownerNote(files, after.owners)}`;
  };
  // One line per service (its worker processes share the reason), one per process of no service.
  const groups = new Map<string, StaleProcess[]>();
  for (const p of fresh) groups.set(p.service ?? `pid ${p.pid}`, [...(groups.get(p.service ?? `pid ${p.pid}`) ?? []), p]);
  for (const ps of groups.values()) reasons.push(describe(ps));
  const services = after.services.filter((s) => fresh.some((p) => p.service === s));
  const unowned = fresh.filter((p) => !p.service);
  const rebootFlag = after.rebootRequired && !opts.before?.rebootRequired;
  if (rebootFlag) reasons.push("/run/reboot-required appeared (Debian's flag that the machine must restart)");
  if (opts.installerSaysRestart) reasons.push("the installer's exit code says the machine must restart");
  if (opts.declared === "machine") reasons.push("the manifest declares a machine restart");
  const machine = opts.declared === "machine" || !!opts.installerSaysRestart || rebootFlag || unowned.length > 0;
  const needed = machine ? "machine" : services.length ? "services" : "none";
  const causedBy = attribute(fresh.flatMap((p) => p.files), after.owners, opts.artifacts ?? []);
  const undeclared = opts.declared === "none" && needed !== "none";
  return { needed, services: machine ? [] : services, reasons, undeclared, causedBy };
}

function ownerNote(files: string[], owners: Record<string, string>): string {
  const pk = [...new Set(files.map((f) => owners[f]).filter(Boolean))];
  return pk.length ? ` (from ${pk.join(", ")})` : "";
}

/** Patches whose payload owns the files: by package (deb, apt) or by target path (files). */
export function attribute(files: string[], owners: Record<string, string>, artifacts: PatchArtifact[]): string[] {
  const out = new Set<string>();
  for (const f of files) {
    for (const a of artifacts) {
      const pkgs = new Set([a.package, ...a.payload.map((p) => p.package), ...(a.apt?.packages.map((p) => p.name) ?? [])]);
      const owner = owners[f];
      if ((owner && pkgs.has(owner)) || (a.patch.kind === "files" && a.patch.files.replace.some((r) => r.target === f))) out.add(a.patch.id);
    }
  }
  return [...out];
}

export interface RestartOutcome {
  status: "passed" | "failed" | "broken" | "skipped";
  message: string;
  /** What was restarted: service names, or "machine". */
  restarted: string[];
  decision: RestartDecision;
  /** Installer-like output of the restart commands. */
  output: string;
  durationMs: number;
}

export interface RestartHooks {
  /** Restart the whole machine and wait for it (Connection.restart). */
  restartMachine(deadline: number): Promise<void>;
  /** Wait until the machine's roles are ready (Connection.waitUntilReady). */
  ready(deadline: number): Promise<void>;
  /** Whether the lab itself is healthy (engine answers, other machines ready): decides failed vs broken. */
  labHealthy(): Promise<boolean>;
}

/**
 * Restart what the decision says, wait for readiness, and check nothing stale is left. A
 * service or machine that does not come back is "failed" (the patch's) only when the lab is
 * healthy; otherwise "broken".
 */
export async function applyRestart(conn: Connection, d: RestartDecision, hooks: RestartHooks, opts: { deadline: number; serviceTimeoutMs?: number }): Promise<RestartOutcome> {
  const started = Date.now();
  const outputs: string[] = [];
  const done = (status: RestartOutcome["status"], message: string, restarted: string[]): RestartOutcome => ({ status, message, restarted, decision: d, output: outputs.join("\n"), durationMs: Date.now() - started });
  const blame = async (what: string, restarted: string[]) => {
    const healthy = await hooks.labHealthy().catch(() => false);
    return healthy ? done("failed", `${what} (the lab itself is healthy: the patch's failure)`, restarted) : done("broken", `${what}; the lab itself is not healthy, so this is a lab error, not the patch's`, restarted);
  };
  if (d.needed === "none") return done("skipped", "no restart needed: no process runs replaced code", []);
  const restarted: string[] = [];
  if (d.needed === "machine") {
    try {
      await hooks.restartMachine(opts.deadline);
      restarted.push("machine");
    } catch (e) {
      const err = asPatchlabError(e);
      if (err instanceof LabError && err.kind === "readiness-timeout") return blame(`machine did not come back after its restart: ${err.message}`, ["machine"]);
      return done("broken", `machine restart failed: ${err.message}`, ["machine"]);
    }
  } else {
    for (const s of d.services) {
      const r = await runStep(conn, `/etc/init.d/${shq(s)} restart`, { timeoutMs: opts.serviceTimeoutMs ?? 120_000 });
      outputs.push(`$ /etc/init.d/${s} restart (exit ${r.exitCode})\n${r.output}`);
      restarted.push(s);
      if (r.timedOut || r.exitCode !== 0) return blame(`restart of service ${s} ${r.timedOut ? "timed out" : `exited ${r.exitCode}`}: ${lastLines(r.output)}`, restarted);
    }
  }
  try {
    await hooks.ready(opts.deadline);
  } catch (e) {
    const err = asPatchlabError(e);
    if (err instanceof LabError && err.kind === "readiness-timeout") return blame(`not ready after restarting ${restarted.join(", ")}: ${err.message}`, restarted);
    return done("broken", `readiness after restart could not be checked: ${err.message}`, restarted);
  }
  const again = await scanRestart(conn);
  const left = again.stale.filter((p) => d.needed === "machine" || (p.service && d.services.includes(p.service)));
  if (left.length) return blame(`still running replaced code after the restart: ${left.map((p) => `${p.service ?? p.comm} (pid ${p.pid}): ${p.files[0]}`).join("; ")}`, restarted);
  const stopped = Object.entries(again.serviceState).filter(([, st]) => st === "stopped").map(([s]) => s);
  if (stopped.length) return blame(`service(s) ${stopped.join(", ")} not running after the restart`, restarted);
  return done("passed", `restarted ${restarted.join(", ")}; ready, and no process runs replaced code`, restarted);
}

/**
 * The lab's health apart from the machine under test: the engine answers and every other
 * machine runs with all its roles ready. A control group: if they are fine, what happened to
 * the machine under test is the patch's doing.
 */
export async function labHealthyExcept(driver: Pick<LabDriver, "status">, lab: Lab, machine: string, busy: readonly string[] = []): Promise<boolean> {
  try {
    const rows = await driver.status(lab);
    // Machines other patches are changing right now (a parallel run) are no control group: their
    // state is those patches' doing. The engine answering is then the only evidence left.
    return rows.filter((r) => r.machine !== machine && !busy.includes(r.machine)).every((r) => r.state === "running" && r.health.every((h) => h.healthy));
  } catch {
    return false;
  }
}
