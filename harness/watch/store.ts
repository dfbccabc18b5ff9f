// Stored baselines, for `patchlab watch` after deployment: what each watcher saw on a machine
// before the patches went out, with the window it saw it in (later windows must match it).
// reports/watch/<lab>/baselines/<machine>.json; the format has a zod schema like every file.
import fs from "node:fs";
import path from "node:path";
import { z } from "zod";
import { ConfigError } from "../core/errors.ts";
import { reportsRoot } from "../core/paths.ts";
import type { Baseline } from "./types.ts";

export const StoredBaseline = z
  .object({
    schemaVersion: z.literal(1),
    lab: z.string().min(1),
    machine: z.string().min(1),
    recordedAt: z.string(),
    policy: z.string().describe("watch policy the baseline was recorded under"),
    window: z.object({ ms: z.number().positive(), sampleMs: z.number().positive() }).strict().describe("every later window has this length and sampling period"),
    baselines: z.record(z.string(), z.object({ watcher: z.string(), version: z.literal(1) }).loose()).describe("per watcher, what it observed"),
  })
  .strict()
  .meta({ title: "patchlab stored watch baseline" });
export type StoredBaseline = z.infer<typeof StoredBaseline>;

export const watchDir = (lab: string) => path.join(reportsRoot(), "watch", lab);
export const baselineFile = (lab: string, machine: string) => path.join(watchDir(lab), "baselines", `${machine}.json`);

export function saveBaseline(b: StoredBaseline): string {
  const file = baselineFile(b.lab, b.machine);
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const tmp = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, JSON.stringify(StoredBaseline.parse(b), null, 1) + "\n");
  fs.renameSync(tmp, file); // a reader never sees half a baseline
  return file;
}

/** The stored baseline of a machine, or a ConfigError saying how to record one. */
export function loadBaseline(lab: string, machine: string, recordHint: string): StoredBaseline {
  const file = baselineFile(lab, machine);
  if (!fs.existsSync(file)) {
    throw new ConfigError(`no stored watch baseline for ${machine} of lab ${lab} (looked for ${path.relative(process.cwd(), file) || file})`, `record one before deploying: \`${recordHint}\``, { file, field: "machine", value: machine });
  }
  let data: unknown;
  try {
    data = JSON.parse(fs.readFileSync(file, "utf8"));
  } catch (e) {
    throw new ConfigError(`${file}: not JSON: ${(e as Error).message}`, `record the baseline again: \`${recordHint}\``, { file });
  }
  const r = StoredBaseline.safeParse(data);
  if (!r.success) {
    const i = r.error.issues[0]!;
    throw new ConfigError(`${file}: ${i.path.join(".") || "(root)"}: ${i.message}`, `record the baseline again: \`${recordHint}\``, { file, field: i.path.join(".") });
  }
  return r.data;
}

export const baselinesOf = (s: StoredBaseline): Record<string, Baseline> => s.baselines as Record<string, Baseline>;
