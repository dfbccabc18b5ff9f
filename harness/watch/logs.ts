// Log watch. Per machine: the container's stdout/stderr (through the engine), journald where
// the machine has one, and the log files its roles declare. Lines written during the window
// are counted by signature; a later phase is compared with the baseline: error-level
// signatures that are new, and known ones whose rate jumped, are findings. Lines the suites
// provoke on purpose (a refused login) are in the baseline too, because the baseline window
// covers the same suites: like is compared with like.
import { LabError } from "../core/errors.ts";
import { roleModule } from "../lab/roles/index.ts";
import type { RoleLog } from "../lab/roles/types.ts";
import type { Connection, MachineHandle } from "../lab/types.ts";
import { errorPatternFor, type WatchPolicy } from "./policy.ts";
import { countSignatures, type SignatureCount } from "./signatures.ts";
import { watcher, type Attachment, type Baseline, type Finding, type WatchContext, type Watcher } from "./types.ts";
import { waitWindow } from "./window.ts";

export interface LogSource {
  id: string;
  present: boolean;
  bytes: number;
  truncated: boolean;
}

export interface LogObservation extends Baseline {
  watcher: "logs";
  version: 1;
  machine: string;
  durationMs: number;
  sources: LogSource[];
  signatures: SignatureCount[];
}

/** The log files a machine's roles declare. */
export function roleLogs(m: MachineHandle): RoleLog[] {
  return m.spec.roles.flatMap((r) => {
    try {
      return roleModule(r).logs ?? [];
    } catch {
      return []; // a role without a module has no declared logs (the lab loader reports the role)
    }
  });
}

// Paths come from role modules, but they end up in a shell script: allow only path characters and globs.
const SAFE_PATH = /^\/[\w./*?[\]@+-]+$/;
const MARK = "@@patchlab-log";

function checkPaths(logs: RoleLog[]): void {
  for (const l of logs) {
    if (!SAFE_PATH.test(l.path)) throw new LabError("harness", `role log path ${JSON.stringify(l.path)} has characters the log watcher does not accept`, "declare log paths as absolute paths of letters, digits, '/._-' and globs");
  }
}

/** Sizes of the files matching the declared paths now: where the window's reading starts. */
export async function fileOffsets(conn: Connection, logs: RoleLog[]): Promise<Record<string, number>> {
  if (logs.length === 0) return {};
  checkPaths(logs);
  const globs = logs.map((l) => l.path).join(" ");
  const r = await conn.exec(`for f in ${globs}; do [ -f "$f" ] && printf '%s\\t%s\\n' "$(stat -c %s -- "$f")" "$f"; done; true`, { timeoutMs: 20_000 });
  if (r.exitCode !== 0) throw new LabError("exec", `listing log files on ${conn.machine} failed: ${r.stderr.trim()}`, "check that the machine is running");
  return parseOffsets(r.stdout);
}

export function parseOffsets(out: string): Record<string, number> {
  const o: Record<string, number> = {};
  for (const line of out.split("\n")) {
    const m = /^(\d+)\t(.+)$/.exec(line);
    if (m) o[m[2]!] = Number(m[1]);
  }
  return o;
}

export interface FileChunk {
  path: string;
  size: number;
  from: number;
  text: string;
}

/**
 * What was appended to each file since `offsets` (a file that shrank was rotated or truncated:
 * read from its start; a new file: all of it), at most maxBytes per file.
 */
export async function readAppended(conn: Connection, logs: RoleLog[], offsets: Record<string, number>, maxBytes: number): Promise<FileChunk[]> {
  if (logs.length === 0) return [];
  checkPaths(logs);
  const globs = logs.map((l) => l.path).join(" ");
  // Offsets travel as a here-document of "offset<TAB>path" lines (paths are known-safe).
  const table = Object.entries(offsets).map(([p, n]) => `${n}\t${p}`).join("\n");
  const script = `
t=$(mktemp)
cat > "$t" <<'PATCHLAB_EOF'
${table}
PATCHLAB_EOF
for f in ${globs}; do
  [ -f "$f" ] || continue
  size=$(stat -c %s -- "$f")
  from=$(awk -F '\\t' -v f="$f" '$2 == f { print $1 }' "$t")
  [ -n "$from" ] || from=0
  [ "$size" -ge "$from" ] || from=0
  printf '\\n${MARK} %s %s %s\\n' "$size" "$from" "$f"
  tail -c +$((from + 1)) -- "$f" | head -c ${maxBytes}
done
rm -f "$t"; true`;
  const r = await conn.exec(script, { timeoutMs: 60_000 });
  if (r.exitCode !== 0) throw new LabError("exec", `reading log files on ${conn.machine} failed: ${r.stderr.trim()}`, "check that the machine is running");
  return parseChunks(r.stdout);
}

export function parseChunks(out: string): FileChunk[] {
  const chunks: FileChunk[] = [];
  const re = new RegExp(`^${MARK} (\\d+) (\\d+) (.+)$`, "gm");
  const marks = [...out.matchAll(re)];
  marks.forEach((m, i) => {
    const start = m.index! + m[0].length + 1;
    const end = i + 1 < marks.length ? marks[i + 1]!.index! - 1 : out.length;
    chunks.push({ path: m[3]!, size: Number(m[1]), from: Number(m[2]), text: out.slice(start, Math.max(start, end)) });
  });
  return chunks;
}

const JOURNAL_CHECK = "[ -d /run/systemd/journal ] && command -v journalctl >/dev/null";

async function readJournal(conn: Connection, fromMs: number, toMs: number, maxBytes: number): Promise<string> {
  const r = await conn.exec(
    `journalctl -q --no-pager -o short-iso --since @${Math.floor(fromMs / 1000)} --until @${Math.ceil(toMs / 1000)} | head -c ${maxBytes}`,
    { timeoutMs: 60_000 },
  );
  if (r.exitCode !== 0) throw new LabError("exec", `journalctl on ${conn.machine} failed: ${r.stderr.trim()}`, "check journald on the machine");
  return r.stdout;
}

const lines = (text: string) => text.split("\n");

/** Observe a machine's logs for the window. */
export async function observeLogs(ctx: WatchContext, policy: WatchPolicy): Promise<LogObservation> {
  const m = ctx.machine;
  const declared = roleLogs(m);
  const max = policy.logs.maxBytesPerSource;
  const rolePattern = errorPatternFor(policy, m.spec.roles);
  const ignore = policy.logs.ignore.map((s) => new RegExp(s, "i"));
  const opts = (errorPattern: RegExp) => ({ errorPattern, ignore, sampleLines: policy.logs.sampleLines });

  const offsets = await fileOffsets(ctx.conn, declared);
  const hasJournal = (await ctx.conn.exec(JOURNAL_CHECK, { timeoutMs: 10_000 })).exitCode === 0;
  const { startedAt, endedAt } = await waitWindow(ctx.window);

  const sources: LogSource[] = [];
  const signatures: SignatureCount[] = [];

  const chunks = await readAppended(ctx.conn, declared, offsets, max);
  for (const d of declared) {
    const re = d.errorPattern ? new RegExp(d.errorPattern, "i") : rolePattern;
    const mine = chunks.filter((c) => globMatch(d.path, c.path));
    if (mine.length === 0) sources.push({ id: `file:${d.path}`, present: false, bytes: 0, truncated: false });
    for (const c of mine) {
      const id = `file:${c.path}`;
      if (sources.some((s) => s.id === id)) continue; // two declarations matching one file
      const bytes = Buffer.byteLength(c.text);
      sources.push({ id, present: true, bytes, truncated: c.size - c.from > bytes });
      signatures.push(...countSignatures(id, lines(c.text), opts(re)));
    }
  }
  if (hasJournal) {
    const text = await readJournal(ctx.conn, startedAt, endedAt, max);
    sources.push({ id: "journal", present: true, bytes: Buffer.byteLength(text), truncated: Buffer.byteLength(text) >= max });
    signatures.push(...countSignatures("journal", lines(text), opts(rolePattern)));
  }
  if (ctx.engine) {
    const entries = await ctx.engine.logs(startedAt, endedAt);
    const text = entries.map((e) => e.line);
    sources.push({ id: "container", present: true, bytes: text.reduce((n, l) => n + l.length + 1, 0), truncated: false });
    signatures.push(...countSignatures("container", text, opts(rolePattern)));
  }
  ctx.log.debug("log watch observed", { phase: ctx.phase, sources, signatures: signatures.length });
  return { watcher: "logs", version: 1, machine: m.spec.name, durationMs: endedAt - startedAt, sources, signatures };
}

/** Shell-glob match of a path (only * and ? are used by role declarations). */
export function globMatch(glob: string, p: string): boolean {
  const re = new RegExp(`^${glob.replace(/[.+^${}()|\\]/g, "\\$&").replace(/\*/g, "[^/]*").replace(/\?/g, "[^/]")}$`);
  return re.test(p);
}

const perMinute = (count: number, ms: number) => (count * 60_000) / Math.max(ms, 1000);
const keyOf = (s: SignatureCount) => `${s.source}\u0000${s.error ? "E" : "I"}\u0000${s.signature}`;
const MAX_FINDINGS = 10;

function evidenceFor(s: SignatureCount, phase: LogObservation, base?: SignatureCount, baseline?: LogObservation): Attachment {
  const secs = (ms: number) => (ms / 1000).toFixed(1);
  const body = [
    `source:    ${s.source}`,
    `signature: ${s.signature}`,
    `this phase: ${s.count} line(s) in ${secs(phase.durationMs)} s (${perMinute(s.count, phase.durationMs).toFixed(1)}/min)`,
    base && baseline
      ? `baseline:   ${base.count} line(s) in ${secs(baseline.durationMs)} s (${perMinute(base.count, baseline.durationMs).toFixed(1)}/min)`
      : "baseline:   none",
    "",
    "sample lines:",
    ...s.samples.map((l) => `  ${l}`),
    "",
  ].join("\n");
  return { name: `log signature (${s.source})`, contentType: "text/plain", body };
}

const short = (s: string, n = 120) => (s.length > n ? `${s.slice(0, n)}…` : s);

/** Pure: findings of a phase's logs against the baseline's. */
export function compareLogs(baseline: LogObservation, phase: LogObservation, policy: WatchPolicy): Finding[] {
  const base = new Map(baseline.signatures.map((s) => [keyOf(s), s]));
  const { newError, rateJump } = policy.logs;
  const found: Finding[] = [];
  const newOnes = phase.signatures
    .filter((s) => s.error && !base.has(keyOf(s)) && s.count >= newError.minCount)
    .sort((a, b) => b.count - a.count);
  for (const s of newOnes.slice(0, MAX_FINDINGS)) {
    found.push({
      watcher: "logs",
      severity: newError.severity,
      rejects: newError.rejects,
      title: `new error lines in ${s.source}: ${short(s.signature)}`,
      message: `${s.count} error-level line(s) in ${(phase.durationMs / 1000).toFixed(0)} s with a signature the baseline never showed, e.g. ${JSON.stringify(short(s.samples[0] ?? "", 300))}`,
      evidence: [evidenceFor(s, phase)],
    });
  }
  if (newOnes.length > MAX_FINDINGS) {
    const rest = newOnes.slice(MAX_FINDINGS);
    found.push({
      watcher: "logs",
      severity: newError.severity,
      rejects: newError.rejects,
      title: "more new error signatures",
      message: `${rest.length} more new error-level signature(s), ${rest.reduce((n, s) => n + s.count, 0)} line(s)`,
      evidence: [{ name: "more new error signatures", contentType: "text/plain", body: rest.map((s) => `${s.count}\t${s.source}\t${s.signature}\n\t${s.samples[0] ?? ""}`).join("\n") + "\n" }],
    });
  }
  for (const s of phase.signatures) {
    if (!s.error) continue;
    const b = base.get(keyOf(s));
    if (!b) continue;
    const now = perMinute(s.count, phase.durationMs);
    const before = perMinute(b.count, baseline.durationMs);
    if (now >= before * rateJump.factor && now - before >= rateJump.minExtraPerMinute) {
      found.push({
        watcher: "logs",
        severity: rateJump.severity,
        rejects: rateJump.rejects,
        title: `error rate jumped in ${s.source}: ${short(s.signature)}`,
        message: `${now.toFixed(1)} lines/min, baseline ${before.toFixed(1)}/min (x${before > 0 ? (now / before).toFixed(1) : "∞"}), e.g. ${JSON.stringify(short(s.samples[0] ?? "", 300))}`,
        evidence: [evidenceFor(s, phase, b, baseline)],
      });
    }
  }
  const vanished = baseline.sources.filter((b) => b.present && !phase.sources.some((p) => p.id === b.id && p.present));
  for (const v of vanished) {
    found.push({
      watcher: "logs",
      severity: "warning",
      rejects: false,
      title: `log source gone: ${v.id}`,
      message: `${v.id} was there in the baseline and is not any more: its errors can no longer be seen`,
      evidence: [],
    });
  }
  return found;
}

export function logNote(o: LogObservation): string {
  const present = o.sources.filter((s) => s.present);
  const absent = o.sources.filter((s) => !s.present).map((s) => s.id);
  const lines = o.signatures.reduce((n, s) => n + s.count, 0);
  const errors = o.signatures.filter((s) => s.error).reduce((n, s) => n + s.count, 0);
  return `${lines} line(s), ${errors} error-level, ${o.signatures.length} signature(s) in ${(o.durationMs / 1000).toFixed(1)} s from ${present.map((s) => s.id).join(", ") || "no source"}${absent.length ? ` (absent: ${absent.join(", ")})` : ""}`;
}

/** The log watcher as a Check. */
export function logCheck(policy: WatchPolicy): Watcher<LogObservation> {
  return watcher("logs", (ctx) => observeLogs(ctx, policy), (b, o) => compareLogs(b, o, policy), logNote);
}
