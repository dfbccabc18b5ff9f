// Where things live. Everything generated goes under reports/ (gitignored but for its README).
import path from "node:path";
import { fileURLToPath } from "node:url";

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
export const reportsRoot = () => path.resolve(process.env.PATCHLAB_REPORTS_DIR ?? path.join(repoRoot, "reports"));
export const stateDir = () => path.resolve(process.env.PATCHLAB_STATE_DIR ?? path.join(reportsRoot(), ".state"));
export const configRoot = () => path.resolve(process.env.PATCHLAB_CONFIG_ROOT ?? path.join(repoRoot, "lab-config"));
