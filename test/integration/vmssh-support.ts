// Helpers shared by the vm and ssh driver self-tests: a real .deb as a PatchArtifact, and
// a small timing table for the test's report.
import path from "node:path";
import { Patch } from "../../harness/config/schemas.ts";
import { prepareDeb, type PatchArtifact } from "../../harness/patch/deb.ts";
import { buildDeb, type DebSpec } from "./support.ts";

/** Builds `spec` with dpkg-deb and prepares it exactly as a run does. */
export async function debArtifact(dir: string, spec: DebSpec, roles: string[] = ["web"], manifest: Record<string, unknown> = {}): Promise<PatchArtifact> {
  const deb = buildDeb(dir, spec);
  const patch = Patch.parse({
    id: `PL-TEST-${spec.name}`,
    title: `test patch ${spec.name}`,
    severity: "moderate",
    kind: "deb",
    deb: { file: path.basename(deb) },
    appliesTo: { roles },
    ...manifest,
  });
  return prepareDeb(patch, path.join(dir, `${spec.name}.yaml`), path.join(dir, "work"));
}

export class Timings {
  readonly rows: [string, number][] = [];
  async time<T>(what: string, f: () => Promise<T>): Promise<T> {
    const t0 = Date.now();
    try {
      return await f();
    } finally {
      this.rows.push([what, Date.now() - t0]);
    }
  }
  print(title: string): void {
    console.log(`\n    ${title}`);
    for (const [what, ms] of this.rows) console.log(`      ${what.padEnd(44)} ${(ms / 1000).toFixed(2).padStart(7)} s`);
  }
}
