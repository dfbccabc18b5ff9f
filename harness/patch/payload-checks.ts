// Load-time checks of script and files payloads: every file the manifest names exists inside
// its folder, so a typo is bad input (exit 3) before anything touches the lab.
import fs from "node:fs";
import path from "node:path";
import type { ConfigError } from "../core/errors.ts";
import { escapesPatchFolder } from "../config/patch-checks.ts";
import { problemAt } from "../config/problem.ts";
import { displayPath, type YamlSource } from "../config/yaml-source.ts";

export function checkPayload(source: YamlSource, data: Record<string, unknown>): ConfigError[] {
  const dir = path.dirname(source.file);
  const entries: { at: (string | number)[]; rel: unknown; mustBeFile: boolean }[] = [];
  const script = data["script"];
  if (data["kind"] === "script" && isRecord(script) && Array.isArray(script["payload"])) {
    script["payload"].forEach((rel, i) => entries.push({ at: ["script", "payload", i], rel, mustBeFile: false }));
  }
  const files = data["files"];
  if (data["kind"] === "files" && isRecord(files) && Array.isArray(files["replace"])) {
    files["replace"].forEach((r, i) => isRecord(r) && entries.push({ at: ["files", "replace", i, "source"], rel: r["source"], mustBeFile: true }));
  }
  const out: ConfigError[] = [];
  for (const { at, rel, mustBeFile } of entries) {
    // Empty, absolute or climbing paths: the schema reports them.
    if (typeof rel !== "string" || rel === "" || rel.startsWith("/") || rel.split("/").includes("..")) continue;
    const escape = escapesPatchFolder(dir, rel);
    if (escape) {
      out.push(problemAt(source, at, escape, `keep payload files inside the patch folder ${displayPath(dir)}/ (a path relative to the manifest, without ..)`));
      continue;
    }
    const st = fs.statSync(path.resolve(dir, rel), { throwIfNoEntry: false });
    if (!st) out.push(problemAt(source, at, `payload not found: ${displayPath(path.resolve(dir, rel))}`, `put it next to the manifest or fix the path (it is relative to ${displayPath(dir)}/)`));
    else if (mustBeFile ? !st.isFile() : !st.isFile() && !st.isDirectory()) out.push(problemAt(source, at, `${displayPath(path.resolve(dir, rel))} is not a ${mustBeFile ? "regular file" : "file or folder"}`, mustBeFile ? "name one regular file per replacement" : "ship regular files and folders only"));
  }
  return out;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === "object" && !Array.isArray(v);
}
