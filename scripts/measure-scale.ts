// The scale measurement of issue 10: a 20-machine lab (test/fixtures/labs/scale.yaml, 172.30.88.0/24)
// brought up, a batch run on it (a good .deb on its 18 web servers), then the lab removed.
// Prints the figures: lab up and run wall time, the harness's peak memory (largest process,
// GNU time's max RSS), and snapshot/restore durations under that load (p50, p95, max).
// Usage (Docker-heavy, so under the lab lock):
//   PATCHLAB_STATE_DIR=/work/state flock /tmp/patchlab-docker.lock npx tsx scripts/measure-scale.ts
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { repoRoot, reportsRoot } from "../harness/core/paths.ts";
import { batchFor, BIN, buildDeb, tmpDir } from "../test/integration/support.ts";

const LAB = path.join(repoRoot, "test/fixtures/labs/scale.yaml");
const env = { ...process.env, PATCHLAB_WATCH_POLICY: path.join(repoRoot, "test/fixtures/policies/watch-ci.yaml") };

/** Runs the CLI under GNU time: exit code, output, wall seconds, max RSS (MB) of the largest process. */
function timed(args: string[]): { code: number; out: string; err: string; wallS: number; maxRssMb: number } {
  const started = Date.now();
  const r = spawnSync("/usr/bin/time", ["-f", "PATCHLAB-MAXRSS-KB %M", process.execPath, BIN, ...args], { cwd: repoRoot, env, encoding: "utf8", maxBuffer: 64 << 20, timeout: 1_800_000 });
  const kb = Number(/PATCHLAB-MAXRSS-KB (\d+)/.exec(r.stderr)?.[1] ?? NaN);
  return { code: r.status ?? -1, out: r.stdout, err: r.stderr, wallS: (Date.now() - started) / 1000, maxRssMb: Math.round(kb / 1024) };
}

const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)]! : NaN;
};
const stats = (xs: number[]) => ({ n: xs.length, p50: pct(xs, 50), p95: pct(xs, 95), max: Math.max(...xs) });

/** From the machines' logs: restore until ready and the state capture after it, per restore. */
function restoreTimings(rd: string): { restoreMs: ReturnType<typeof stats>; stateMs: ReturnType<typeof stats> } {
  const lines = fs.readdirSync(path.join(rd, "logs")).filter((f) => /^[^.]+\.log$/.test(f)).flatMap((f) => fs.readFileSync(path.join(rd, "logs", f), "utf8").split("\n").filter((l) => l.includes('"restore timing"')));
  const rows = lines.map((l) => JSON.parse(l) as { restoreMs: number; stateMs: number });
  return { restoreMs: stats(rows.map((r) => r.restoreMs)), stateMs: stats(rows.map((r) => r.stateMs)) };
}

const dir = tmpDir("scale");
const deb = buildDeb(dir, { name: "fixture-scale", version: "1.0", files: { "usr/share/doc/fixture-scale/README": "scale fixture\n" } });
const batch = batchFor(dir, { id: "SCALE-GOOD", deb, lab: LAB });
fs.writeFileSync(path.join(dir, "SCALE-GOOD.yaml"), fs.readFileSync(path.join(dir, "SCALE-GOOD.yaml"), "utf8").replace("severity: moderate", "severity: critical"));

const figures: Record<string, unknown> = { machines: 20, host: { cores: (await import("node:os")).cpus().length, memoryMb: Math.round((await import("node:os")).totalmem() / 2 ** 20) } };
try {
  const up = timed(["lab", "up", LAB, "--timeout", "600"]);
  if (up.code !== 0) throw new Error(`lab up failed (${up.code}): ${up.err.slice(-3000)}`);
  figures.labUp = { wallS: up.wallS, maxRssMb: up.maxRssMb };
  const run = timed(["run", batch, "--depth", "limited"]);
  const runDir = /reports\/\S+?(?=\/gate\.json)/.exec(run.out + run.err)?.[0];
  const id = /run (\S+): batch/.exec(run.err)?.[1];
  const rd = runDir ? path.resolve(repoRoot, runDir) : id ? path.join(reportsRoot(), id) : undefined;
  if (!rd || !fs.existsSync(path.join(rd, "gate.json"))) throw new Error(`run left no gate.json (exit ${run.code}): ${run.err.slice(-3000)}`);
  const gate = JSON.parse(fs.readFileSync(path.join(rd, "gate.json"), "utf8")) as { verdict: string; patches: { patch: string; verdict: string; reasons: { message: string }[] }[] };
  const steps = fs.readFileSync(path.join(rd, "records.jsonl"), "utf8").split("\n").filter(Boolean).map((l) => JSON.parse(l) as { step?: string; machine?: string; status?: string; start?: number; stop?: number });
  const ms = (name: string) => steps.filter((s) => s.step === name && s.start && s.stop).map((s) => s.stop! - s.start!);
  figures.run = {
    runDir: path.relative(repoRoot, rd), exit: run.code, verdict: gate.verdict, wallS: run.wallS, maxRssMb: run.maxRssMb,
    patches: gate.patches.map((p) => ({ patch: p.patch, verdict: p.verdict, reasons: p.reasons.slice(0, 3).map((r) => r.message.slice(0, 200)) })),
    restoreStepMs: stats(ms("restore")), snapshotMs: stats(ms("snapshot")),
    // Restore until ready (the driver's restore: a warm standby swapped in, or recreated) apart from the rollback check's state capture.
    ...restoreTimings(rd), installMs: stats(ms("install")), pipelineMs: stats(ms("pipeline")),
    steps: [...new Set(steps.map((s) => s.step).filter(Boolean))],
  };
} finally {
  const down = timed(["lab", "down", LAB, "--purge"]);
  figures.labDown = { code: down.code, wallS: down.wallS };
  fs.rmSync(dir, { recursive: true, force: true });
  console.log(JSON.stringify(figures, null, 2));
}
