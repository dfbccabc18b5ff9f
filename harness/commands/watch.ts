// `patchlab watch <machine|lab>`: keep watching running machines after deployment against
// their stored baseline (`--record-baseline` stores one, before deploying). Read-only: it takes
// no lab lock and changes nothing on the machines, so runs and other commands go on meanwhile.
import fs from "node:fs";
import path from "node:path";
import type { Lab } from "../config/schemas.ts";
import { isLabName, labFileFor, listLabs, resolveConfigRoot } from "../config/config-root.ts";
import { loadLab } from "../config/loader.ts";
import { ConfigError, ExitCode, LabError } from "../core/errors.ts";
import { fileLogger, say, type Logger } from "../core/log.ts";
import { docker, requireEngine } from "../lab/drivers/docker-engine.ts";
import { DockerDriver } from "../lab/drivers/docker-driver.ts";
import type { MachineHandle } from "../lab/types.ts";
import { dockerWatchContext, watchBaseline, watchChecks } from "../watch/index.ts";
import { follow, formatDuration, parseDuration } from "../watch/follow.ts";
import { loadWatchPolicy, type WatchPolicy } from "../watch/policy.ts";
import { baselineFile, baselinesOf, loadBaseline, saveBaseline, watchDir } from "../watch/store.ts";
import type { Attachment, Finding, WatchWindow } from "../watch/types.ts";

export interface WatchOptions {
  lab?: string;
  for?: string;
  interval?: string;
  window?: string;
  recordBaseline?: boolean;
  policy?: string;
  json?: boolean;
}

/** `web` (a machine of --lab, default reference), or a lab (name or path): all its server machines. */
async function resolveTargets(target: string, labOpt: string | undefined): Promise<{ lab: Lab; labRef: string; machines: string[] }> {
  const root = resolveConfigRoot();
  const isLab = !labOpt && (isLabName(target) ? fs.existsSync(labFileFor(root, target)) : /\.ya?ml$/.test(target));
  if (isLab) {
    const { lab } = await loadLab(target);
    return { lab, labRef: target, machines: lab.machines.filter((m) => !(m.roles.length === 1 && m.roles[0] === "client")).map((m) => m.name) };
  }
  const labRef = labOpt ?? "reference";
  const { lab, file } = await loadLab(labRef);
  if (!lab.machines.some((m) => m.name === target)) {
    throw new ConfigError(
      `"${target}" is neither a machine of lab ${lab.name} (${file}) nor a lab`,
      `name a machine (${lab.machines.map((m) => m.name).join(", ")}), a lab (${listLabs(root).join(", ")}) or a lab file; --lab picks the lab of a machine`,
      { field: "target", value: target },
    );
  }
  return { lab, labRef, machines: [target] };
}

const slug = (s: string) => s.toLowerCase().replace(/[^a-z0-9]+/g, "-").replace(/^-|-$/g, "").slice(0, 60);

function writeEvidence(dir: string, n: number, machine: string, f: Finding): string[] {
  return f.evidence.map((a: Attachment, i) => {
    const ext = a.contentType === "image/svg+xml" ? "svg" : a.contentType === "application/json" ? "json" : "txt";
    const file = path.join(dir, `${String(n).padStart(3, "0")}-${machine}-${f.watcher}-${slug(a.name)}${i ? `-${i}` : ""}.${ext}`);
    fs.writeFileSync(file, a.body);
    return file;
  });
}

function checkWindow(policy: WatchPolicy, windowMs: number, sampleMs: number, intervalMs: number, forMs: number): void {
  const minMs = policy.watch.minIntervalSeconds * 1000;
  if (intervalMs < minMs) {
    throw new ConfigError(`--interval ${formatDuration(intervalMs)} is below the policy's minimum of ${formatDuration(minMs)}`, "choose a longer --interval (the sampling rate is bounded so watching does not load the machines)", { field: "--interval", value: intervalMs });
  }
  if (intervalMs < windowMs) {
    throw new ConfigError(`--interval ${formatDuration(intervalMs)} is shorter than the baseline's window (${formatDuration(windowMs)}): every window must be as long as the baseline's`, `choose --interval of at least ${formatDuration(windowMs)}, or record a shorter baseline (--record-baseline --window ...)`, { field: "--interval", value: intervalMs });
  }
  if (forMs < windowMs) {
    throw new ConfigError(`--for ${formatDuration(forMs)} is shorter than one window (${formatDuration(windowMs)})`, `watch for at least ${formatDuration(windowMs)}`, { field: "--for", value: forMs });
  }
  if (sampleMs < 500) throw new ConfigError(`sampling every ${sampleMs} ms is too often`, "sample at most twice a second", { field: "sampleMs", value: sampleMs });
}

export async function watchCommand(target: string, o: WatchOptions): Promise<number> {
  // Bad input stops here, before the engine is touched.
  const forMs = parseDuration(o.for ?? "2w", "--for");
  const intervalOpt = o.interval ? parseDuration(o.interval, "--interval") : undefined;
  const windowOpt = o.window ? parseDuration(o.window, "--window") : undefined;
  const { lab, labRef, machines } = await resolveTargets(target, o.lab);
  const policy = await loadWatchPolicy(o.policy ?? "watch");
  const d = await requireEngine(docker());
  const driver = new DockerDriver(d);
  const handles = driver.handlesFor(lab).filter((h) => machines.includes(h.spec.name));
  const status = await driver.status(lab);
  const down = status.filter((s) => machines.includes(s.machine) && s.state !== "running");
  if (down.length) {
    throw new LabError("machine-start", `not running in lab ${lab.name}: ${down.map((s) => `${s.machine} (${s.state})`).join(", ")}`, `bring the lab up (\`patchlab lab up ${labRef}\`) or watch machines that run`);
  }
  const pki = await driver.pki(lab);
  const checks = watchChecks(policy, pki);
  const dir = watchDir(lab.name);
  fs.mkdirSync(dir, { recursive: true });
  const log = fileLogger(path.join(dir, "watch.log"), { lab: lab.name });
  const ctx = (m: MachineHandle, window: WatchWindow, phase: string, l: Logger) => dockerWatchContext(d, m, driver.connect(m), window, phase, l);
  const hint = `patchlab watch ${target}${o.lab ? ` --lab ${o.lab}` : ""} --record-baseline`;

  if (o.recordBaseline) {
    const ms = windowOpt ?? policy.window.seconds * 1000;
    const sampleMs = Math.min(policy.window.sampleSeconds * 1000, ms);
    say(`recording the watch baseline of ${machines.join(", ")} (lab ${lab.name}): ${formatDuration(ms)} window, sampling every ${formatDuration(sampleMs)}`);
    const recorded = await Promise.all(
      handles.map(async (m) => {
        const r = await watchBaseline(checks, ctx(m, { ms, sampleMs }, "baseline", log));
        const broken = r.results.filter((x) => x.error);
        if (broken.length) {
          throw new LabError("exec", `${m.spec.name}: could not observe the baseline with ${broken.map((b) => `${b.name} (${b.error})`).join(", ")}`, "check the machine (`patchlab lab status`) and record again");
        }
        const file = saveBaseline({ schemaVersion: 1, lab: lab.name, machine: m.spec.name, recordedAt: new Date().toISOString(), policy: policy.name, window: { ms, sampleMs }, baselines: r.baselines as never });
        return { m, r, file };
      }),
    );
    for (const { m, r, file } of recorded) {
      console.log(`${m.spec.name}: baseline stored in ${path.relative(process.cwd(), file)}`);
      for (const x of r.results) console.log(`  ${x.name}: ${x.note ?? ""}`);
    }
    return ExitCode.approved;
  }

  const stored = handles.map((m) => ({ m, s: loadBaseline(lab.name, m.spec.name, hint) }));
  const window = stored[0]!.s.window;
  const odd = stored.find((x) => x.s.window.ms !== window.ms || x.s.window.sampleMs !== window.sampleMs);
  if (odd) {
    throw new ConfigError(`the stored baselines of ${stored[0]!.m.spec.name} and ${odd.m.spec.name} have different windows`, `record them together: \`${hint}\``, { file: baselineFile(lab.name, odd.m.spec.name) });
  }
  const intervalMs = intervalOpt ?? Math.max(policy.watch.intervalSeconds * 1000, window.ms);
  checkWindow(policy, window.ms, window.sampleMs, intervalMs, forMs);

  const runDir = path.join(dir, new Date().toISOString().replace(/[-:.]/g, "").slice(0, 15));
  fs.mkdirSync(runDir, { recursive: true });
  const jsonl = path.join(runDir, "findings.jsonl");
  fs.writeFileSync(jsonl, "");
  say(`watching ${machines.join(", ")} of lab ${lab.name} for ${formatDuration(forMs)}: a ${formatDuration(window.ms)} window every ${formatDuration(intervalMs)} against the baselines recorded ${stored.map((x) => x.s.recordedAt.slice(0, 16)).join(", ")}; findings in ${path.relative(process.cwd(), runDir)}`);

  // Ctrl-C (or SIGTERM) ends the watch cleanly with its summary. Watching changes nothing on
  // the lab, so the CLI's default handler (which puts machines back) has nothing to do here.
  const ac = new AbortController();
  const previous = { SIGINT: process.listeners("SIGINT"), SIGTERM: process.listeners("SIGTERM") };
  const onSignal = (sig: string) => {
    if (ac.signal.aborted) process.exit(130);
    say(`${sig}: stopping the watch (a second ${sig} exits at once)`);
    ac.abort();
  };
  for (const sig of ["SIGINT", "SIGTERM"] as const) {
    process.removeAllListeners(sig);
    process.on(sig, () => onSignal(sig));
  }
  let n = 0;
  try {
    const r = await follow({
      machines: stored.map(({ m, s }) => ({ name: m.spec.name, baselines: baselinesOf(s), context: (w) => ctx(m, w, "watch", log) })),
      checks,
      window,
      intervalMs,
      forMs,
      signal: ac.signal,
      onFinding: (machine, f, atMs) => {
        n++;
        const files = writeEvidence(runDir, n, machine, f);
        fs.appendFileSync(jsonl, JSON.stringify({ at: new Date().toISOString(), afterMs: atMs, machine, watcher: f.watcher, severity: f.severity, rejects: f.rejects, title: f.title, message: f.message, evidence: files.map((x) => path.basename(x)) }) + "\n");
        if (o.json) console.log(JSON.stringify({ machine, ...f, evidence: files }));
        else console.log(`[${new Date().toISOString().slice(11, 19)}] ${machine}: [${f.severity}${f.rejects ? ", rejects" : ""}] ${f.watcher}: ${f.title}\n    ${f.message}${files.length ? `\n    evidence: ${files.map((x) => path.relative(process.cwd(), x)).join(", ")}` : ""}`);
      },
      onBroken: (machine, check, error) => say(`${machine}: ${check} could not observe: ${error}`),
      onWindow: (machine, rs, k) => {
        log.info("window", { machine, k, results: rs.map((x) => ({ name: x.name, findings: x.findings.length, error: x.error, note: x.note })) });
        if (k === 0) for (const x of rs) if (x.note && x.name === "counters") say(`${machine}: ${x.note}`);
      },
    });
    const rejecting = r.findings.filter((x) => x.finding.rejects).length;
    const line = `watched ${machines.join(", ")} for ${formatDuration(r.elapsedMs)} (${r.stoppedBy === "signal" ? "stopped" : "period over"}): ${r.windows} window(s), ${r.findings.length} finding(s), ${rejecting} rejecting${r.brokenWindows ? `, ${r.brokenWindows} window(s) where a watcher could not observe` : ""}`;
    if (o.json) console.log(JSON.stringify({ summary: line, windows: r.windows, findings: r.findings.length, rejecting, brokenWindows: r.brokenWindows, stoppedBy: r.stoppedBy, dir: runDir }));
    else console.log(line);
    return rejecting ? ExitCode.rejected : r.brokenWindows || r.windows === 0 ? ExitCode.undecided : ExitCode.approved;
  } finally {
    for (const sig of ["SIGINT", "SIGTERM"] as const) {
      process.removeAllListeners(sig);
      for (const l of previous[sig]) process.on(sig, l as () => void);
    }
  }
}
