// Helpers for self-tests that drive the real CLI against the real Docker engine.
import { spawn, execFileSync, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import Docker from "dockerode";
import { repoRoot } from "../../harness/core/paths.ts";

export const docker = new Docker();
export const BIN = path.join(repoRoot, "bin", "patchlab.js");

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
  ms: number;
}

/** Run the real CLI as a user would, in a separate process. */
export function cli(args: string[], opts: { env?: Record<string, string>; timeoutMs?: number; cwd?: string } = {}): Promise<CliResult> {
  const started = Date.now();
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], {
      cwd: opts.cwd ?? repoRoot,
      env: { ...process.env, PATCHLAB_QUIET: "0", PATCHLAB_WATCH_POLICY: path.join(repoRoot, "test/fixtures/policies/watch-ci.yaml"), ...opts.env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (b) => (stdout += b));
    child.stderr.on("data", (b) => (stderr += b));
    const timer = setTimeout(() => child.kill("SIGKILL"), opts.timeoutMs ?? 900_000);
    child.on("error", reject);
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({ code: code ?? -1, stdout, stderr, ms: Date.now() - started });
    });
  });
}

/** Start the CLI and hand back the process, for tests that kill it mid-run. */
export function cliProcess(args: string[], env: Record<string, string> = {}): ChildProcess {
  return spawn(process.execPath, [BIN, ...args], { cwd: repoRoot, env: { ...process.env, PATCHLAB_WATCH_POLICY: path.join(repoRoot, "test/fixtures/policies/watch-ci.yaml"), ...env }, stdio: ["ignore", "pipe", "pipe"] });
}

export function tmpDir(prefix: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), `patchlab-${prefix}-`));
}

/**
 * Everything patchlab made in the engine that carries a given label. Images: tagged ones only
 * (an untagged snapshot was deleted; it merely backs a machine restored from it).
 */
export async function labelled(label: string): Promise<{ containers: string[]; networks: string[]; images: string[] }> {
  const [cs, ns, is] = await Promise.all([
    docker.listContainers({ all: true, filters: { label: [label] } }),
    docker.listNetworks({ filters: { label: [label] } }),
    docker.listImages({ filters: { label: [label] } }),
  ]);
  return { containers: cs.map((c) => c.Names[0]!.slice(1)).sort(), networks: ns.map((n) => n.Name).sort(), images: is.filter((i) => (i.RepoTags ?? []).some((t) => t !== "<none>:<none>")).map((i) => i.Id).sort() };
}

/** Run a command in a lab container (as the tests' own independent view of the machine). */
export function inContainer(container: string, cmd: string): string {
  return execFileSync("docker", ["exec", container, "sh", "-c", cmd], { encoding: "utf8" });
}

export interface DebSpec {
  name: string;
  version: string;
  depends?: string;
  /** Default "all". */
  architecture?: string;
  multiArch?: string;
  files?: Record<string, string | Buffer>;
  /** Symbolic links: path in the package -> target. */
  links?: Record<string, string>;
  preinst?: string;
  postinst?: string;
  prerm?: string;
  postrm?: string;
}

/** Build a real .deb with dpkg-deb, for known-good and known-bad fixtures. */
export function buildDeb(dir: string, spec: DebSpec): string {
  const tree = path.join(dir, `${spec.name}-tree`);
  fs.mkdirSync(path.join(tree, "DEBIAN"), { recursive: true });
  fs.writeFileSync(
    path.join(tree, "DEBIAN", "control"),
    [
      `Package: ${spec.name}`,
      `Version: ${spec.version}`,
      `Architecture: ${spec.architecture ?? "all"}`,
      ...(spec.multiArch ? [`Multi-Arch: ${spec.multiArch}`] : []),
      "Maintainer: patchlab tests <tests@corp.example>",
      ...(spec.depends ? [`Depends: ${spec.depends}`] : []),
      `Description: patchlab test fixture ${spec.name}`,
      "",
    ].join("\n"),
  );
  for (const [file, content] of Object.entries(spec.files ?? {})) {
    const p = path.join(tree, file);
    fs.mkdirSync(path.dirname(p), { recursive: true });
    fs.writeFileSync(p, content);
  }
  for (const [link, target] of Object.entries(spec.links ?? {})) {
    const p = path.join(tree, link);
    fs.mkdirSync(path.dirname(p), { recursive: true });
    fs.symlinkSync(target, p);
  }
  for (const script of ["preinst", "postinst", "prerm", "postrm"] as const) {
    if (spec[script]) fs.writeFileSync(path.join(tree, "DEBIAN", script), spec[script]!, { mode: 0o755 });
  }
  const deb = path.join(dir, `${spec.name}_${spec.version}_${spec.architecture ?? "all"}.deb`);
  execFileSync("dpkg-deb", ["--root-owner-group", "-Zgzip", "--build", tree, deb], { stdio: "pipe" });
  return deb;
}

/** Write a patch manifest + a batch for one .deb; returns the batch path. */
export function batchFor(dir: string, opts: { id: string; deb: string; lab: string; roles?: string[]; restart?: "none" | "machine" }): string {
  const manifest = path.join(dir, `${opts.id}.yaml`);
  fs.writeFileSync(
    manifest,
    [
      `id: ${opts.id}`,
      `title: test patch ${opts.id}`,
      "severity: moderate",
      "kind: deb",
      `deb: { file: ${path.basename(opts.deb)} }`,
      `appliesTo: { roles: [${(opts.roles ?? ["web"]).join(", ")}] }`,
      ...(opts.restart ? [`restart: ${opts.restart}`] : []),
      "",
    ].join("\n"),
  );
  const batch = path.join(dir, `batch-${opts.id}.yaml`);
  fs.writeFileSync(batch, [`name: ${opts.id.toLowerCase().replace(/[^a-z0-9-]/g, "-")}`, `lab: ${opts.lab}`, "patches:", `  - ${path.basename(manifest)}`, ""].join("\n"));
  return batch;
}

export function readJson<T = unknown>(file: string): T {
  return JSON.parse(fs.readFileSync(file, "utf8")) as T;
}

/** The run directory a `patchlab run` printed (its gate.json line). */
export function runDirFrom(out: string): string {
  const m = /gate\.json: (.+\/gate\.json)/.exec(out);
  if (!m) throw new Error(`no gate.json line in output:\n${out.slice(-2000)}`);
  return path.dirname(path.resolve(repoRoot, m[1]!));
}
