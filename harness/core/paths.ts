// Where things live. Everything generated goes under reports/ (gitignored but for its README).
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

/**
 * The repository root: the nearest directory above this module holding patchlab's package.json.
 * Found by walking up (not a fixed "../..") so the same code works from harness/ under tsx and
 * from the CLI's bundle in .build/.
 */
export const repoRoot = findRoot(path.dirname(fileURLToPath(import.meta.url)));

function findRoot(from: string): string {
  for (let dir = from; ; dir = path.dirname(dir)) {
    try {
      if ((JSON.parse(fs.readFileSync(path.join(dir, "package.json"), "utf8")) as { name?: string }).name === "patchlab") return dir;
    } catch { /* not here */ }
    if (path.dirname(dir) === dir) throw new Error(`patchlab's package.json not found above ${from}`);
  }
}
export const reportsRoot = () => path.resolve(process.env.PATCHLAB_REPORTS_DIR ?? path.join(repoRoot, "reports"));
export const stateDir = () => path.resolve(process.env.PATCHLAB_STATE_DIR ?? path.join(reportsRoot(), ".state"));
export const configRoot = () => path.resolve(process.env.PATCHLAB_CONFIG_ROOT ?? path.join(repoRoot, "lab-config"));
