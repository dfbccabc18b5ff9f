// Loading waivers.yaml (I/O lives here, not in the pure gate): validated before anything runs,
// so a bad waiver is bad input (exit 3) and never a silently ignored acceptance.
import fs from "node:fs";
import path from "node:path";
import { parseYamlFile } from "../config/parse-yaml.ts";
import { configRoot } from "../core/paths.ts";
import { WaiverFile, type Waiver } from "./waivers.ts";

export const defaultWaiversFile = () => path.join(configRoot(), "waivers.yaml");

export interface LoadedWaivers {
  waivers: Waiver[];
  /** The file read, or undefined when the default file does not exist (no waivers). */
  file: string | undefined;
}

/** An explicit file must exist; the default one may be absent (no waivers). */
export async function loadWaivers(file?: string): Promise<LoadedWaivers> {
  const target = file ?? defaultWaiversFile();
  if (!file && !fs.existsSync(target)) return { waivers: [], file: undefined };
  const parsed = await parseYamlFile(target, WaiverFile, { what: "waivers file" });
  return { waivers: parsed.value.waivers, file: parsed.file };
}
