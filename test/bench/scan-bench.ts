// Scan throughput on a synthetic inventory: 100 machines x 500 catalog entries, evaluated and
// stored in a throwaway SQLite history. Goal: under 10 s. A figure for people, not a test.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import type { AptPatch } from "../../harness/config/schemas.ts";
import type { MachineInventory } from "../../harness/inventory/inventory.ts";
import { buildScan } from "../../harness/inventory/scan.ts";
import { ScanStore } from "../../harness/inventory/store.ts";

export function syntheticLab(machines = 100, entries = 500, seed = 7): { inventories: MachineInventory[]; patches: AptPatch[] } {
  let s = seed;
  const rnd = (n: number) => ((s = (s * 1103515245 + 12345) % 2147483648), s % n);
  const pool = Array.from({ length: 3000 }, (_, i) => `pkg${i}`);
  const version = (minor: number, u: number) => `${1 + (minor % 3)}:${minor}.${rnd(9)}-${1 + rnd(3)}${u ? `+deb12u${u}` : ""}`;
  const base = new Map(pool.map((p, i) => [p, version(i % 50, 0)]));
  const patches: AptPatch[] = Array.from({ length: entries }, (_, i) => {
    const names = Array.from({ length: 1 + rnd(6) }, () => pool[rnd(pool.length)]!);
    const v = `${base.get(names[0]!)!}+deb12u${1 + rnd(4)}`;
    return {
      id: `SYN-${i}`,
      title: `synthetic ${i}`,
      vendor: "debian",
      severity: (["critical", "important", "moderate", "low"] as const)[rnd(4)]!,
      cves: [],
      restart: "none",
      kind: "apt",
      apt: { suite: "bookworm-security", source: `src${i}`, version: v, supersedes: i > 0 && rnd(5) === 0 ? [`SYN-${i - 1}`] : [], packages: [...new Set(names)].map((name) => ({ name, version: v, architecture: "amd64", sha256: "0".repeat(64) })) },
    };
  });
  const inventories: MachineInventory[] = Array.from({ length: machines }, (_, m) => {
    const pkgs = new Map<string, { version: string; arch: string; source: string }>();
    for (let k = 0; k < 400; k++) {
      const name = pool[rnd(pool.length)]!;
      pkgs.set(name, { version: rnd(3) ? base.get(name)! : `${base.get(name)!}+deb12u${rnd(6)}`, arch: "amd64", source: name });
    }
    return { machine: `m${m}`, roles: ["web"], packages: pkgs, files: new Map(), commands: new Map(), collectedAt: "" };
  });
  return { inventories, patches };
}

export function benchScan(): { ms: number; evaluateMs: number; results: number; missing: number } {
  const { inventories, patches } = syntheticLab();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "patchlab-bench-scan-"));
  try {
    const t0 = performance.now();
    const dry = buildScan("bench", inventories, patches, { startedAt: new Date().toISOString(), baseline: false });
    const evaluateMs = performance.now() - t0;
    const store = new ScanStore(path.join(dir, "inventory.sqlite"));
    const t1 = performance.now();
    buildScan("bench", inventories, patches, { startedAt: new Date().toISOString(), baseline: false, store });
    const ms = performance.now() - t1;
    store.close();
    const all = dry.machines.flatMap((m) => m.results);
    return { ms, evaluateMs, results: all.length, missing: all.filter((r) => r.status === "missing").length };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv[1]?.endsWith("scan-bench.ts")) {
  const r = benchScan();
  console.log(`scan 100 machines x 500 entries: ${r.ms.toFixed(0)} ms with the SQLite store (${r.evaluateMs.toFixed(0)} ms evaluation alone); ${r.results} results, ${r.missing} missing; goal < 10000 ms`);
}
