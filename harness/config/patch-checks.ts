// A patch manifest names its package by a path relative to itself; check that path
// now, at load time, rather than minutes later on a running lab.
import fs from "node:fs";
import path from "node:path";
import type { ConfigError } from "../core/errors.ts";
import { formatBytes, limitEnv, limits } from "./limits.ts";
import { checkPayload } from "../patch/payload-checks.ts";
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
  if (isRecord(data) && (data["kind"] === "script" || data["kind"] === "files")) return checkPayload(source, data);
  return [...checkSelfSupersede(source, data), ...checkDebPaths(source, data)];
}

/** An update cannot replace itself (cycles across a batch's patches: supersedence.ts). */
function checkSelfSupersede(source: YamlSource, data: unknown): ConfigError[] {
  const apt = isRecord(data) ? data["apt"] : undefined;
  const list = isRecord(apt) && Array.isArray(apt["supersedes"]) ? apt["supersedes"] : [];
  const id = isRecord(data) ? data["id"] : undefined;
  return list.flatMap((x, i) =>
    x === id && typeof id === "string"
      ? [problemAt(source, ["apt", "supersedes", i], `patch "${id}" lists itself as superseded`, `remove "${id}" from apt.supersedes: an update replaces older ones only`, { omitValue: true })]
      : [],
  );
}

function checkDebPaths(source: YamlSource, data: unknown): ConfigError[] {
  const deb = isRecord(data) ? data["deb"] : undefined;
  // With both keys the schema already says "exactly one"; checking both paths would pile on.
  if (!isRecord(deb) || ("file" in deb && "build" in deb)) return [];
  const dir = displayPath(path.dirname(source.file));
  const out: ConfigError[] = [];
  for (const key of ["file", "build"] as const) {
    const rel = deb[key];
    if (typeof rel !== "string" || rel === "") continue;
    const escape = escapesPatchFolder(path.dirname(source.file), rel);
    if (escape) {
      out.push(problemAt(source, ["deb", key], escape, `keep the patch's package inside its folder ${dir}/ (a path relative to the manifest, without ..) and copy it there; a patch brings its payload, it does not reach into the host`));
      return out; // never look further at a path outside the patch folder
    }
  }
  if (typeof deb["file"] === "string" && deb["file"] !== "") {
    const abs = path.resolve(path.dirname(source.file), deb["file"]);
    const stat = statOf(abs);
    if (stat?.isFile()) out.push(...checkDebFile(source, abs, stat));
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
    } else if (symlinked(abs, path.join(abs, "DEBIAN"))) {
      out.push(
        problemAt(
          source,
          ["deb", "build"],
          `package tree ${displayPath(abs)}: DEBIAN or a file in it is a symbolic link (${symlinked(abs, path.join(abs, "DEBIAN"))})`,
          "make DEBIAN/ and its control file and maintainer scripts regular files inside the tree: a link would make dpkg-deb read (and ship) a file from outside the patch",
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

/**
 * Why `rel` (relative to the manifest's folder) leaves that folder, or undefined when it does
 * not: an absolute path, `..` segments that climb out, or a symbolic link pointing outside.
 */
export function escapesPatchFolder(folder: string, rel: string): string | undefined {
  if (path.isAbsolute(rel)) return `an absolute path (${rel}) reaches outside the patch folder`;
  const abs = path.resolve(folder, rel);
  if (!isInside(folder, abs)) return `${rel} climbs out of the patch folder (to ${displayPath(abs)})`;
  let real: string;
  let realFolder: string;
  try {
    real = fs.realpathSync(abs);
    realFolder = fs.realpathSync(folder);
  } catch {
    return undefined; // absent: reported as not found
  }
  if (!isInside(realFolder, real)) return `${rel} is a symbolic link (or inside one) that leads out of the patch folder, to ${real}`;
  return undefined;
}

function isInside(folder: string, p: string): boolean {
  const r = path.relative(folder, p);
  return r === "" || (!r.startsWith("..") && !path.isAbsolute(r));
}

/** The first symbolic link among `dir` and its direct entries, relative to `root`. */
function symlinked(root: string, dir: string): string | undefined {
  const l = fs.lstatSync(dir, { throwIfNoEntry: false });
  if (!l) return undefined;
  if (l.isSymbolicLink()) return path.relative(root, dir);
  if (!l.isDirectory()) return undefined;
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    if (e.isSymbolicLink()) return path.relative(root, path.join(dir, e.name));
  }
  return undefined;
}

/** A .deb is an `ar` archive of bounded size; anything else is refused before dpkg-deb sees it. */
function checkDebFile(source: YamlSource, abs: string, stat: fs.Stats): ConfigError[] {
  const max = limits().payloadBytes;
  if (stat.size > max) {
    return [problemAt(source, ["deb", "file"], `${displayPath(abs)} is ${formatBytes(stat.size)}, over the ${formatBytes(max)} limit for a patch's package`, `check that this is the right file (or raise ${limitEnv("payloadBytes")} if a package this large is really meant)`)];
  }
  const head = Buffer.alloc(8);
  const fd = fs.openSync(abs, "r");
  try {
    fs.readSync(fd, head, 0, 8, 0);
  } finally {
    fs.closeSync(fd);
  }
  if (head.toString("latin1") !== "!<arch>\n") {
    return [problemAt(source, ["deb", "file"], `${displayPath(abs)} is not a Debian package (a .deb starts with "!<arch>")`, "point deb.file at a .deb built by dpkg-deb, or use `deb: { build: <tree> }` to have patchlab build it")];
  }
  return [];
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
