// `patchlab batch from-scan [lab]`: a batch of the catalog updates the lab's last scan found
// missing (the newest update per source package: an older one it supersedes is left out).
import fs from "node:fs";
import path from "node:path";
import YAML from "yaml";
import { loadCatalog } from "../catalog/catalog.ts";
import { compareDebVersions } from "../catalog/debversion.ts";
import { loadLab } from "../config/loader.ts";
import { Batch, Severity } from "../config/schemas.ts";
import { ConfigError } from "../core/errors.ts";
import { reportsRoot } from "../core/paths.ts";
import { withStore } from "../store/open.ts";

export async function batchFromScan(labRef: string | undefined, o: { severity?: string[]; output?: string; name?: string }): Promise<{ file: string; patches: string[]; summary: string }> {
  const sev = (o.severity ?? []).flatMap((s) => s.split(","));
  for (const s of sev) if (!Severity.safeParse(s).success) throw new ConfigError(`--severity ${s} is not a severity`, `use: ${Severity.options.join(", ")}`, { field: "--severity", value: s });
  const { lab, file: labFile } = await loadLab(labRef ?? "reference");
  const latest = await withStore((store) => store.latestResults(lab.name));
  if (latest.size === 0) throw new ConfigError(`lab ${lab.name} has never been scanned`, `run \`patchlab scan ${lab.name}\` first`);
  const missing = new Map<string, string[]>();
  for (const [machine, r] of latest) for (const x of r.results) if (x.status === "missing") missing.set(x.patch, [...(missing.get(x.patch) ?? []), machine]);
  const catalog = await loadCatalog();
  let picked = catalog.filter((e) => missing.has(e.patch.id) && (sev.length === 0 || sev.includes(e.patch.severity)));
  // One update per source package: the newest carries the older ones' fixes.
  picked = picked.filter((e) => !picked.some((o2) => o2.patch.apt.source === e.patch.apt.source && compareDebVersions(o2.patch.apt.version, e.patch.apt.version) > 0));
  if (picked.length === 0) {
    throw new ConfigError(`the last scan of lab ${lab.name} found no missing update${sev.length ? ` of severity ${sev.join("/")}` : ""} in the catalog`, "nothing to batch; `patchlab scan history` shows compliance, `patchlab catalog import debian` refreshes the catalog");
  }
  const name = o.name ?? `${lab.name}-missing`;
  const file = path.resolve(o.output ?? path.join(reportsRoot(), "batches", `${name}.yaml`));
  const batch = Batch.parse({
    name,
    description: `Updates missing on lab ${lab.name} at its last scan${sev.length ? ` (severity ${sev.join(", ")})` : ""}`,
    lab: path.relative(path.dirname(file), labFile),
    patches: picked.map((e) => path.relative(path.dirname(file), e.file)),
  });
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, `# Written by \`patchlab batch from-scan\`\n${YAML.stringify(batch, { lineWidth: 0 })}`);
  const rows = picked.map((e) => `  ${e.patch.id.padEnd(48)} ${e.patch.severity.padEnd(9)} missing on ${missing.get(e.patch.id)!.join(", ")}`);
  return { file, patches: picked.map((e) => e.patch.id), summary: [...rows, `wrote ${path.relative(process.cwd(), file)} (${picked.length} patch(es))`].join("\n") };
}
