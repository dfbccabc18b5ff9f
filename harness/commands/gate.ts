// `patchlab gate <run>`: re-evaluate a saved run with today's waivers (and date) without
// touching the lab; `--check-set` tells CI whether a package set is exactly what was approved.
import { execFile } from "node:child_process";
import { createHash } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { promisify } from "node:util";
import { parse as parseYaml } from "yaml";
import { z } from "zod";
import { ConfigError, ExitCode } from "../core/errors.ts";
import { reportsRoot } from "../core/paths.ts";
import { compareSets, describeComparison, type SetComparison } from "../gate/check-set.ts";
import { decide, Decision, GateInput, PayloadItem } from "../gate/gate.ts";
import { loadWaivers } from "../gate/load-waivers.ts";
import { readGateJson } from "../report/gate-json.ts";
import { GATE_INPUT_JSON } from "../run/orchestrator.ts";
import { todayUtc } from "../run/gate-input.ts";

const run = promisify(execFile);

/** A run id, a run directory, or "latest". */
export function resolveRunDir(ref: string | undefined): string {
  const candidates = ref === undefined || ref === "latest" ? [path.join(reportsRoot(), "latest")] : [path.resolve(ref), path.join(reportsRoot(), ref)];
  const dir = candidates.find((c) => fs.existsSync(path.join(c, GATE_INPUT_JSON)));
  if (!dir) {
    throw new ConfigError(
      `no saved run at ${candidates.join(" or ")} (looked for ${GATE_INPUT_JSON})`,
      `pass a run id from ${path.relative(process.cwd(), reportsRoot()) || reportsRoot()}/ or a run directory; runs that stopped on bad input have nothing to re-gate`,
      { field: "<run>", value: ref ?? "latest" },
    );
  }
  return fs.realpathSync(dir);
}

export function readGateInput(runDir: string): GateInput {
  const file = path.join(runDir, GATE_INPUT_JSON);
  let raw: unknown;
  try {
    raw = JSON.parse(fs.readFileSync(file, "utf8"));
  } catch (e) {
    throw new ConfigError(`${file} is not readable JSON: ${(e as Error).message}`, "the run's saved gate input is damaged; re-run the batch", { file });
  }
  const r = GateInput.safeParse(raw);
  if (!r.success) {
    throw new ConfigError(`${file} does not match the gate input schema: ${r.error.issues.slice(0, 3).map((i) => `${i.path.join(".")}: ${i.message}`).join("; ")}`, "it was written by another patchlab version or edited; re-run the batch", { file });
  }
  return r.data;
}

export interface RegateResult {
  decision: Decision;
  runDir: string;
  check?: SetComparison;
}

export async function gateCommand(ref: string | undefined, o: { waivers?: string; checkSet?: string; today?: string }): Promise<RegateResult> {
  const runDir = resolveRunDir(ref);
  const input = readGateInput(runDir);
  const waivers = await loadWaivers(o.waivers);
  const given = o.checkSet ? await readPackageSet(o.checkSet) : undefined;
  const fresh = decide({ ...input, today: o.today ?? todayUtc(), waivers: waivers.waivers });
  let original: Decision | undefined;
  try {
    original = readGateJson(path.join(runDir, "gate.json"));
  } catch { /* a run killed before gate.json: the saved input is enough */ }
  const decision: Decision = {
    ...fresh,
    ...(original?.run ? { run: { ...original.run, decidedAt: new Date().toISOString(), regatedFrom: path.basename(runDir), ...(waivers.file ? { waivers: waivers.file } : {}) } } : {}),
  };
  Decision.parse(decision);
  const file = path.join(runDir, "gate-regated.json");
  fs.writeFileSync(`${file}.tmp`, JSON.stringify(decision, null, 2) + "\n");
  fs.renameSync(`${file}.tmp`, file);
  return { decision, runDir, ...(given ? { check: compareSets(decision.approvedSet, given) } : {}) };
}

export function checkSetText(c: SetComparison): string {
  return c.exact ? "check-set: the set is exactly what was approved" : ["check-set: the set is NOT exactly what was approved", ...describeComparison(c).map((l) => `  ${l}`)].join("\n");
}

export const checkSetExit = (c: SetComparison) => (c.exact ? ExitCode.approved : ExitCode.rejected);

const SetFile = z.union([z.array(PayloadItem), z.object({ packages: z.array(PayloadItem) }).strict(), z.object({ approvedSet: z.array(PayloadItem) }).passthrough()]);

/**
 * A package set: a directory of .deb files (identity read with dpkg-deb, sha256 computed),
 * a YAML/JSON list of {package, version, sha256?} (or a gate.json: its approvedSet), or text
 * lines "package=version [sha256]".
 */
export async function readPackageSet(file: string): Promise<PayloadItem[]> {
  const abs = path.resolve(file);
  const bad = (msg: string) => new ConfigError(`--check-set ${file}: ${msg}`, "give a directory of .deb files, a YAML/JSON list of {package, version, sha256}, or lines 'package=version [sha256]'", { file: abs, field: "--check-set" });
  if (!fs.existsSync(abs)) throw bad("no such file or directory");
  if (fs.statSync(abs).isDirectory()) {
    const debs = fs.readdirSync(abs).filter((f) => f.endsWith(".deb")).sort();
    if (debs.length === 0) throw bad("the directory holds no .deb file");
    return Promise.all(
      debs.map(async (f) => {
        const p = path.join(abs, f);
        const out = (await run("dpkg-deb", ["-f", p, "Package", "Version"], { timeout: 30_000 }).catch((e) => { throw bad(`${f}: ${(e as Error).message}`); })).stdout;
        const pkg = /^Package: (.+)$/m.exec(out)?.[1]?.trim();
        const version = /^Version: (.+)$/m.exec(out)?.[1]?.trim();
        if (!pkg || !version) throw bad(`${f} has no Package/Version`);
        return { package: pkg, version, sha256: createHash("sha256").update(fs.readFileSync(p)).digest("hex") };
      }),
    );
  }
  const text = fs.readFileSync(abs, "utf8");
  if (/\.(ya?ml|json)$/i.test(abs)) {
    let data: unknown;
    try {
      data = parseYaml(text, { maxAliasCount: 100 });
    } catch (e) {
      throw bad((e as Error).message);
    }
    const r = SetFile.safeParse(data);
    if (!r.success) throw bad(r.error.issues.slice(0, 3).map((i) => `${i.path.join(".") || "(root)"}: ${i.message}`).join("; "));
    const d = r.data as PayloadItem[] | { packages: PayloadItem[] } | { approvedSet: PayloadItem[] };
    return Array.isArray(d) ? d : "packages" in d ? d.packages : d.approvedSet;
  }
  const items: PayloadItem[] = [];
  for (const [i, raw] of text.split("\n").entries()) {
    const line = raw.replace(/#.*/, "").trim();
    if (!line) continue;
    const m = /^([a-z0-9][a-z0-9+.-]*)(?:=|\s+)(\S+)(?:\s+([0-9a-f]{64}))?$/.exec(line);
    if (!m) throw bad(`line ${i + 1}: "${line.slice(0, 80)}" is not "package=version [sha256]"`);
    items.push({ package: m[1]!, version: m[2]!, ...(m[3] ? { sha256: m[3] } : {}) });
  }
  if (items.length === 0) throw bad("the file lists no package");
  return items;
}
