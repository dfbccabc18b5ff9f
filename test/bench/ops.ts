// Single operations, patchlab against the raw engine call it wraps (the bench's first figures,
// kept for comparison across changes): snapshot, restore, exec, fingerprint, image check.
import { execFileSync } from "node:child_process";
import type Docker from "dockerode";
import type { Lab } from "../../harness/config/schemas.ts";
import { isDockerMachine } from "../../harness/config/schemas.ts";
import { DockerDriver } from "../../harness/lab/drivers/docker-driver.ts";
import { ensureImages } from "../../harness/lab/images/build.ts";
import { fingerprint } from "../../harness/lab/fingerprint.ts";
import { median } from "./util.ts";

export interface OpRow { what: string; patchlabMs: number; rawMs: number; raw: string; }

async function time(fn: () => Promise<unknown> | unknown, rounds: number): Promise<number> {
  const xs: number[] = [];
  for (let i = 0; i < rounds; i++) {
    const t = performance.now();
    await fn();
    xs.push(performance.now() - t);
  }
  return median(xs);
}

export async function benchOps(docker: Docker, driver: DockerDriver, lab: Lab, rounds: number): Promise<OpRow[]> {
  const web = driver.handlesFor(lab).find((m) => m.spec.name === "web")!;
  const conn = driver.connect(web);
  const rows: OpRow[] = [];

  // Snapshot: driver.snapshot vs a bare `docker commit`.
  const snaps: string[] = [];
  const snapMs = await time(async () => snaps.push((await driver.snapshot(web, `bench-${snaps.length}`)).ref), rounds);
  const rawSnapMs = await time(() => { snaps.push(execFileSync("docker", ["commit", web.container, `patchlab-snap/bench-raw:${snaps.length}`]).toString().trim()); }, rounds);
  rows.push({ what: "snapshot one machine", patchlabMs: snapMs, rawMs: rawSnapMs, raw: "docker commit (CLI)" });

  // Restore: recreate + wait until nginx serves, vs the raw container recreate alone.
  const ref = (await driver.snapshots(lab)).filter((s) => s.machine === "web").pop()!;
  const restoreMs = await time(() => driver.restore(web, ref, Date.now() + 60_000), rounds);
  const opts = driver.createOptions(web, ref.ref, "bench");
  const rawRestoreMs = await time(async () => {
    await docker.getContainer(web.container).remove({ force: true });
    await (await docker.createContainer(opts)).start();
  }, rounds);
  await driver.restore(web, ref, Date.now() + 60_000);
  rows.push({ what: "restore one machine (until ready)", patchlabMs: restoreMs, rawMs: rawRestoreMs, raw: "docker rm -f + create + start (API), not waiting for nginx" });

  // Exec: Connection.exec vs the docker CLI.
  const execMs = await time(() => conn.exec(["true"]), 20);
  const rawExecMs = await time(() => execFileSync("docker", ["exec", web.container, "true"]), 20);
  rows.push({ what: "run a command on a machine", patchlabMs: execMs, rawMs: rawExecMs, raw: "docker exec (CLI)" });

  // Fingerprint vs the raw dpkg-query it is built on.
  const fpMs = await time(() => fingerprint(conn), rounds);
  const rawFpMs = await time(() => execFileSync("docker", ["exec", web.container, "dpkg-query", "-W"]), rounds);
  rows.push({ what: "fingerprint one machine", patchlabMs: fpMs, rawMs: rawFpMs, raw: "docker exec dpkg-query -W (CLI), packages only" });

  // Image reuse: the no-op check of all images vs listing images.
  const images = [...new Set(lab.machines.filter(isDockerMachine).map((m) => m.image))];
  const ensureMs = await time(() => ensureImages(docker, images, {}), rounds);
  const rawListMs = await time(() => docker.listImages(), rounds);
  rows.push({ what: `check ${images.length} images are current`, patchlabMs: ensureMs, rawMs: rawListMs, raw: "list images (API)" });

  for (const s of (await driver.snapshots(lab)).filter((s) => s.label.startsWith("bench-"))) await driver.deleteSnapshot(s);
  for (const id of snaps) await docker.getImage(id).remove({ force: true }).catch(() => undefined);
  return rows;
}
