// `npm run bench`: patchlab's overhead as ratios against the raw engine work it wraps,
// measured on the reference lab. Not a test: it prints figures (and writes them to
// reports/bench/latest.json) for people to compare across changes.
import fs from "node:fs";
import path from "node:path";
import { execFileSync } from "node:child_process";
import { loadLab } from "../../harness/config/loader.ts";
import { isDockerMachine } from "../../harness/config/schemas.ts";
import { reportsRoot } from "../../harness/core/paths.ts";
import { requireEngine } from "../../harness/lab/drivers/docker-engine.ts";
import { DockerDriver } from "../../harness/lab/drivers/docker-driver.ts";
import { ensureImages } from "../../harness/lab/images/build.ts";
import { fingerprint } from "../../harness/lab/fingerprint.ts";
import { benchScan } from "./scan-bench.ts";

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

async function time(fn: () => Promise<unknown> | unknown, rounds = ROUNDS): Promise<number> {
  const xs: number[] = [];
  for (let i = 0; i < rounds; i++) {
    const t = performance.now();
    await fn();
    xs.push(performance.now() - t);
  }
  return median(xs);
}

// Scan throughput on a synthetic inventory (no engine needed): 100 machines x 500 catalog entries.
const scanFigure = benchScan();
console.log(`scan 100 machines x 500 catalog entries (synthetic): ${scanFigure.ms.toFixed(0)} ms including the SQLite history (${scanFigure.evaluateMs.toFixed(0)} ms evaluation); goal < 10 s`);

const docker = await requireEngine();
const { lab } = await loadLab("reference");
const driver = new DockerDriver(docker);
const wasUp = (await driver.status(lab)).some((s) => s.state === "running");
const machines = await driver.up(lab, { runId: "bench", deadline: Date.now() + 300_000 });
const web = machines.find((m) => m.spec.name === "web")!;
const conn = driver.connect(web);
const rows: { what: string; patchlabMs: number; rawMs: number; raw: string }[] = [];

// Snapshot: driver.snapshot vs a bare `docker commit`.
const snaps: string[] = [];
const snapMs = await time(async () => snaps.push((await driver.snapshot(web, `bench-${snaps.length}`)).ref));
const rawSnapMs = await time(() => { snaps.push(execFileSync("docker", ["commit", web.container, `patchlab-snap/bench-raw:${snaps.length}`]).toString().trim()); });
rows.push({ what: "snapshot one machine", patchlabMs: snapMs, rawMs: rawSnapMs, raw: "docker commit (CLI)" });

// Restore: recreate + wait until nginx serves, vs the raw container recreate alone.
const ref = (await driver.snapshots(lab)).filter((s) => s.machine === "web").pop()!;
const restoreMs = await time(() => driver.restore(web, ref, Date.now() + 60_000));
const opts = driver.createOptions(web, ref.ref, "bench");
const rawRestoreMs = await time(async () => {
  await docker.getContainer(web.container).remove({ force: true });
  await (await docker.createContainer(opts)).start();
});
await driver.restore(web, ref, Date.now() + 60_000);
rows.push({ what: "restore one machine (until ready)", patchlabMs: restoreMs, rawMs: rawRestoreMs, raw: "docker rm -f + create + start (API), not waiting for nginx" });

// Exec: Connection.exec vs the docker CLI.
const execMs = await time(() => conn.exec(["true"]), 20);
const rawExecMs = await time(() => execFileSync("docker", ["exec", web.container, "true"]), 20);
rows.push({ what: "run a command on a machine", patchlabMs: execMs, rawMs: rawExecMs, raw: "docker exec (CLI)" });

// Fingerprint vs the raw dpkg-query it is built on.
const fpMs = await time(() => fingerprint(conn));
const rawFpMs = await time(() => execFileSync("docker", ["exec", web.container, "dpkg-query", "-W"]));
rows.push({ what: "fingerprint one machine", patchlabMs: fpMs, rawMs: rawFpMs, raw: "docker exec dpkg-query -W (CLI), packages only" });

// Image reuse: the no-op check of all images vs listing images.
const images = [...new Set(lab.machines.filter(isDockerMachine).map((m) => m.image))];
const ensureMs = await time(() => ensureImages(docker, images, {}));
const rawListMs = await time(() => docker.listImages());
rows.push({ what: `check ${images.length} images are current`, patchlabMs: ensureMs, rawMs: rawListMs, raw: "list images (API)" });

for (const s of (await driver.snapshots(lab)).filter((s) => s.label.startsWith("bench-"))) await driver.deleteSnapshot(s);
for (const id of snaps) await docker.getImage(id).remove({ force: true }).catch(() => undefined);

console.log(`\n${"operation".padEnd(36)} ${"patchlab".padStart(10)} ${"raw".padStart(10)} ${"ratio".padStart(7)}  raw work`);
for (const r of rows) {
  console.log(`${r.what.padEnd(36)} ${r.patchlabMs.toFixed(0).padStart(8)}ms ${r.rawMs.toFixed(0).padStart(8)}ms ${(r.patchlabMs / r.rawMs).toFixed(2).padStart(7)}  ${r.raw}`);
}
if (!wasUp) await driver.down(lab);
const out = path.join(reportsRoot(), "bench", "latest.json");
fs.mkdirSync(path.dirname(out), { recursive: true });
fs.writeFileSync(out, JSON.stringify({ at: new Date().toISOString(), rounds: ROUNDS, rows, scan: { machines: 100, entries: 500, ms: Math.round(scanFigure.ms), evaluateMs: Math.round(scanFigure.evaluateMs) } }, null, 2) + "\n");
console.log(`\nfigures: ${path.relative(process.cwd(), out)}`);
