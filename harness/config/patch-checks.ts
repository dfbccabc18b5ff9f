// A patch manifest names its package by a path relative to itself; check that path
// now, at load time, rather than minutes later on a running lab.
import fs from "node:fs";
import path from "node:path";
import type { ConfigError } from "../core/errors.ts";
import { problemAt } from "./problem.ts";
import { displayPath, type YamlSource } from "./yaml-source.ts";

/** Absolute path of the manifest's .deb file or package tree, if the manifest names one. */
export function debPathOf(manifestFile: string, data: unknown): string | undefined {
  const deb = isRecord(data) ? data["deb"] : undefined;
  if (!isRecord(deb)) return undefined;
  const rel = typeof deb["file"] === "string" ? deb["file"] : deb["build"];
  return typeof rel === "string" && rel !== "" ? path.resolve(path.dirname(manifestFile), rel) : undefined;
}

export function checkPatch(source: YamlSource, data: unknown): ConfigError[] {
  const deb = isRecord(data) ? data["deb"] : undefined;
  // With both keys the schema already says "exactly one"; checking both paths would pile on.
  if (!isRecord(deb) || ("file" in deb && "build" in deb)) return [];
  const dir = displayPath(path.dirname(source.file));
  const out: ConfigError[] = [];
  if (typeof deb["file"] === "string" && deb["file"] !== "") {
    const abs = path.resolve(path.dirname(source.file), deb["file"]);
    const stat = statOf(abs);
    if (!stat?.isFile()) {
      out.push(
        problemAt(
          source,
          ["deb", "file"],
          stat ? `${displayPath(abs)} is not a file` : `.deb file not found: ${displayPath(abs)}`,
          `put the package at ${displayPath(abs)} or fix the path (it is relative to ${dir}/)`,
        ),
      );
    }
  }
  if (typeof deb["build"] === "string" && deb["build"] !== "") {
    const abs = path.resolve(path.dirname(source.file), deb["build"]);
    const control = path.join(abs, "DEBIAN", "control");
    const stat = statOf(abs);
    if (!stat?.isDirectory()) {
      out.push(
        problemAt(
          source,
          ["deb", "build"],
          stat ? `${displayPath(abs)} is not a directory` : `package tree not found: ${displayPath(abs)}`,
          `create the package tree (DEBIAN/control plus files) at ${displayPath(abs)} or fix the path (it is relative to ${dir}/)`,
        ),
      );
    } else if (!statOf(control)?.isFile()) {
      out.push(
        problemAt(
          source,
          ["deb", "build"],
          `package tree ${displayPath(abs)} has no DEBIAN/control`,
          `add ${displayPath(control)} (Package, Version, Architecture, Maintainer, Description) so dpkg-deb can build it`,
        ),
      );
    }
  }
  return out;
}

function statOf(p: string): fs.Stats | undefined {
  try {
    return fs.statSync(p);
  } catch {
    return undefined;
  }
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === "object" && !Array.isArray(v);
}
