// Helpers for the watchers' integration tests: the reference lab's machines through the real
// DockerDriver, a fixture .deb installed with dpkg inside a machine, and a few checks run from
// the client machine (curl) that record the service's latency like the suites do.
import fs from "node:fs";
import path from "node:path";
import { expect } from "chai";
import { loadLab } from "../../harness/config/loader.ts";
import type { Lab } from "../../harness/config/schemas.ts";
import { nullLogger } from "../../harness/core/log.ts";
import { decide } from "../../harness/gate/gate.ts";
import { docker as engine } from "../../harness/lab/drivers/docker-engine.ts";
import { DockerDriver } from "../../harness/lab/drivers/docker-driver.ts";
import type { Connection, MachineHandle, SnapshotRef } from "../../harness/lab/types.ts";
import type { TestOutcome } from "../../harness/report/outcome-model.ts";
import { defaultWatchPolicy, dockerWatchContext, toWatchEvidence, watchChecks, type CheckResult, type WatchPolicy } from "../../harness/watch/index.ts";
import type { WatchContext } from "../../harness/watch/types.ts";
import { buildDeb, cli, tmpDir, type DebSpec } from "./support.ts";

/** Short windows for CI: a few seconds, sampled every second (the same in every phase). */
export const WINDOW = { ms: 4000, sampleMs: 1000 };

export function ciPolicy(): WatchPolicy {
  const p = defaultWatchPolicy();
  p.window = { seconds: WINDOW.ms / 1000, sampleSeconds: WINDOW.sampleMs / 1000 };
  return p;
}

export interface LabAccess {
  lab: Lab;
  driver: DockerDriver;
  machine(name: string): MachineHandle;
  conn(name: string): Connection;
  ctx(name: string, phase: string, extra?: { during?: Promise<unknown>; ms?: number }): WatchContext;
  checks: ReturnType<typeof watchChecks>;
  policy: WatchPolicy;
}

export async function referenceLab(): Promise<LabAccess> {
  const up = await cli(["lab", "up"]);
  expect(up.code, `lab up failed:\n${up.stderr.slice(-3000)}`).to.equal(0);
  const { lab } = await loadLab("reference");
  const d = engine();
  const driver = new DockerDriver(d);
  const handles = driver.handlesFor(lab);
  const machine = (n: string) => handles.find((h) => h.spec.name === n)!;
  const policy = ciPolicy();
  const checks = watchChecks(policy, await driver.pki(lab));
  return {
    lab,
    driver,
    machine,
    conn: (n) => driver.connect(machine(n)),
    ctx: (n, phase, extra = {}) =>
      dockerWatchContext(d, machine(n), driver.connect(machine(n)), { ...WINDOW, ...(extra.ms ? { ms: extra.ms } : {}), ...(extra.during ? { during: extra.during } : {}) }, phase, nullLogger),
    checks,
    policy,
  };
}

/** Snapshots machines now; `restore()` puts them back (after each test), `drop()` deletes the snapshots. */
export async function keepState(l: LabAccess, names: string[], label: string): Promise<{ restore(): Promise<void>; drop(): Promise<void> }> {
  const snaps: [MachineHandle, SnapshotRef][] = [];
  for (const n of names) snaps.push([l.machine(n), await l.driver.snapshot(l.machine(n), label)]);
  return {
    restore: async () => {
      await Promise.all(snaps.map(([m, s]) => l.driver.restore(m, s, Date.now() + 120_000)));
    },
    drop: async () => {
      for (const [, s] of snaps) await l.driver.deleteSnapshot(s);
    },
  };
}

const debs = new Map<string, string>();
/** Build the fixture once per test process. */
export function fixtureDeb(spec: DebSpec): string {
  const key = JSON.stringify(spec);
  let f = debs.get(key);
  if (!f) {
    f = buildDeb(tmpDir("watch-fixture"), spec);
    debs.set(key, f);
  }
  return f;
}

/** Install a .deb inside a machine with dpkg, as the deb provisioner does; it must install cleanly. */
export async function installDeb(conn: Connection, deb: string): Promise<void> {
  const remote = `/var/cache/patchlab/${path.basename(deb)}`;
  await conn.upload([{ path: remote, content: fs.readFileSync(deb) }]);
  const r = await conn.exec(["dpkg", "-i", remote], { timeoutMs: 120_000 });
  expect(r.exitCode, `dpkg -i ${path.basename(deb)}: ${r.stdout}\n${r.stderr}`).to.equal(0);
}

/**
 * Three checks of the web machine from the client, as a user sees it, with the service's
 * latency (curl's time_total) recorded like the suites record it.
 */
export async function webChecks(l: LabAccess, web = "web"): Promise<TestOutcome[]> {
  const m = l.machine(web);
  const client = l.conn("client");
  const marker = "patchlab-web-ok";
  const probes: [string, string, boolean][] = [
    ["web serves its home page over HTTP", `http://${m.fqdn}/`, true],
    ["web answers its health check", `http://${m.fqdn}/healthz`, false],
    ["web serves its home page over HTTPS", `https://${m.fqdn}/`, true],
  ];
  const out: TestOutcome[] = [];
  for (const [name, url, wantMarker] of probes) {
    const port = url.startsWith("https") ? 443 : 80;
    const r = await client.exec(
      `curl -s -o /tmp/body --max-time 10 --resolve ${m.fqdn}:${port}:${m.ip} -w '%{http_code} %{time_total}' '${url}'; echo " $?"; grep -c '${marker}' /tmp/body || true`,
      { timeoutMs: 30_000 },
    );
    const [first, count] = r.stdout.trim().split("\n");
    const [code, secs, curlExit] = (first ?? "").split(" ");
    const ok = code === "200" && curlExit === "0" && (!wantMarker || Number(count) > 0);
    out.push({
      name,
      status: ok ? "passed" : "failed",
      ...(ok ? {} : { message: `GET ${url}: HTTP ${code}, curl exit ${curlExit}` }),
      durationMs: Math.round(Number(secs) * 1000),
      ...(ok ? { latencyMs: Math.round(Number(secs) * 1000) } : {}),
    });
  }
  return out;
}

/** The gate's verdict on a patch whose required results are the watchers' post-install results. */
export function gateVerdict(patch: string, results: CheckResult[]): string {
  const evidence = results.map(toWatchEvidence);
  const d = decide({
    today: "2030-01-01",
    patches: [
      {
        patch,
        required: results.map((r) => ({ machine: r.machine, phase: r.phase as "post-install", kind: "watch" as const, name: r.name })),
        evidence,
      },
    ],
  });
  return d.patches[0]!.verdict;
}

export const titles = (rs: CheckResult[]) => rs.flatMap((r) => r.findings.map((f) => `${f.watcher}: ${f.title}`));
