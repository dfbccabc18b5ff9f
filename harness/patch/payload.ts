// Payload files of script and files patches: shipped next to the manifest, read and hashed on
// the harness before the lab is touched, uploaded to a staging folder on the machine.
import { createHash } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { ConfigError } from "../core/errors.ts";
import type { Connection } from "../lab/types.ts";
import { REMOTE_DIR } from "./exec.ts";
import type { PayloadFile } from "./types.ts";

/**
 * The files named by `entries` (files or folders, relative to the manifest), each checked to
 * stay inside the manifest's folder once links are followed. Bad input is a ConfigError
 * naming the manifest, the field and the entry.
 */
export function collectPayload(manifestFile: string, entries: string[], field: string): PayloadFile[] {
  const base = fs.realpathSync(path.dirname(manifestFile));
  const out: PayloadFile[] = [];
  const add = (abs: string, rel: string, at: string) => {
    const st = fs.statSync(abs);
    if (st.isDirectory()) {
      for (const name of fs.readdirSync(abs).sort()) add(path.join(abs, name), `${rel}/${name}`, at);
      return;
    }
    if (!st.isFile()) {
      throw new ConfigError(`${manifestFile}: ${at}: ${rel} is not a regular file`, "ship only regular files and folders as payload", { file: manifestFile, field: at, value: rel });
    }
    out.push({ rel, local: abs, sha256: createHash("sha256").update(fs.readFileSync(abs)).digest("hex"), mode: st.mode & 0o7777 });
  };
  entries.forEach((entry, i) => {
    const at = `${field}[${i}]`;
    const abs = path.resolve(base, entry);
    let real: string;
    try {
      real = fs.realpathSync(abs);
    } catch {
      throw new ConfigError(`${manifestFile}: ${at}: ${entry} does not exist (looked for ${abs})`, `put it next to the manifest, or fix the path (relative to ${base}/)`, { file: manifestFile, field: at, value: entry });
    }
    if (real !== base && !real.startsWith(base + path.sep)) {
      throw new ConfigError(`${manifestFile}: ${at}: ${entry} leads outside the patch folder (to ${real})`, "keep payload files inside the manifest's folder (no links out)", { file: manifestFile, field: at, value: entry });
    }
    add(real, entry.replace(/\/+$/, ""), at);
  });
  return out;
}

/** Staging folder of a patch's payload on a machine. */
export const stagingDir = (patchId: string) => `${REMOTE_DIR}/${patchId}`;

/** Upload a payload into a fresh staging folder; returns the folder. */
export async function uploadPayload(conn: Connection, patchId: string, files: PayloadFile[]): Promise<string> {
  const dir = stagingDir(patchId);
  await conn.exec(["rm", "-rf", dir]);
  await conn.upload([
    // An empty payload still gets its folder (the commands run there).
    { path: `${dir}/.patchlab-payload`, content: files.map((f) => `${f.sha256}  ${f.rel}`).join("\n") + "\n" },
    ...files.map((f) => ({ path: `${dir}/${f.rel}`, content: fs.readFileSync(f.local), mode: f.mode })),
  ]);
  return dir;
}

export async function removeStaging(conn: Connection, patchId: string): Promise<void> {
  await conn.exec(["rm", "-rf", stagingDir(patchId)]).catch(() => undefined);
}
