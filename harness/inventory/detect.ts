// Detection: is a patch installed on a machine, missing from it, or not applicable to it?
// Rules are evaluated on a collected inventory (no machine access here, so a scan of many
// machines is one exec each plus pure computation).
import type { DetectRule, Patch } from "../config/schemas.ts";
import { compareDebVersions } from "../catalog/debversion.ts";
import type { MachineInventory } from "./inventory.ts";

export type Detection = "installed" | "missing" | "not-applicable";

export interface EntryResult {
  patch: string;
  status: Detection;
  /** Why, for people: "nginx 1.22.1-9+deb12u9 < 1.22.1-9+deb12u11". */
  detail: string;
}

/** The rules of a patch: its own `detect:`, else for apt each binary package at least at its version. */
export function rulesOf(patch: Patch, debIdentity?: { package: string; version: string }): DetectRule[] {
  if ("detect" in patch && patch.detect?.length) return patch.detect;
  // A vendor installer's own detection; replaced files are detected by the provisioner (it holds their hashes).
  if (patch.kind === "script") return [{ command: patch.script.detect, exitCode: 0 }];
  if (patch.kind === "files") return [];
  if (patch.kind === "apt") {
    const seen = new Set<string>();
    return patch.apt.packages
      .filter((p) => !seen.has(p.name) && seen.add(p.name))
      .map((p) => ({ package: p.name, minVersion: p.version, whenAbsent: "not-applicable" as const }));
  }
  // A deb patch adds its package: a machine of its roles without it is missing it.
  return debIdentity ? [{ package: debIdentity.package, minVersion: debIdentity.version, whenAbsent: "missing" as const }] : [];
}

function evalRule(rule: DetectRule, inv: MachineInventory): { status: Detection; detail: string } {
  if ("package" in rule) {
    const p = inv.packages.get(rule.package);
    if (!p) return { status: rule.whenAbsent, detail: `${rule.package} not installed` };
    return compareDebVersions(p.version, rule.minVersion) >= 0
      ? { status: "installed", detail: `${rule.package} ${p.version} >= ${rule.minVersion}` }
      : { status: "missing", detail: `${rule.package} ${p.version} < ${rule.minVersion}` };
  }
  if ("file" in rule) {
    const h = inv.files.get(rule.file);
    if (h === undefined) return { status: "missing", detail: `${rule.file} was not inspected` };
    if (h === "") return { status: rule.whenAbsent, detail: `${rule.file} absent` };
    return h === rule.sha256 ? { status: "installed", detail: `${rule.file} has the expected sha256` } : { status: "missing", detail: `${rule.file} sha256 ${h.slice(0, 12)}… differs` };
  }
  const r = inv.commands.get(rule.command);
  if (!r) return { status: "missing", detail: `\`${rule.command}\` was not run` };
  const wantCode = rule.exitCode ?? (rule.output === undefined ? 0 : undefined);
  const codeOk = wantCode === undefined || r.exitCode === wantCode;
  const outOk = rule.output === undefined || new RegExp(rule.output, "m").test(r.stdout);
  return codeOk && outOk
    ? { status: "installed", detail: `\`${rule.command}\` as expected` }
    : { status: "missing", detail: `\`${rule.command}\` exited ${r.exitCode}${outOk ? "" : `, output does not match /${rule.output}/`}` };
}

/** All applicable rules must hold; a patch none of whose rules applies is not applicable. */
export function evaluateRules(rules: DetectRule[], inv: MachineInventory): { status: Detection; detail: string } {
  const results = rules.map((r) => evalRule(r, inv));
  const applicable = results.filter((r) => r.status !== "not-applicable");
  if (applicable.length === 0) return { status: "not-applicable", detail: results.map((r) => r.detail).join("; ") || "no detection rule" };
  const missing = applicable.filter((r) => r.status === "missing");
  if (missing.length) return { status: "missing", detail: missing.map((r) => r.detail).join("; ") };
  return { status: "installed", detail: applicable.map((r) => r.detail).join("; ") };
}

export interface ScanTarget {
  patch: Patch;
  rules: DetectRule[];
}

/** What the rules of every target need collected beyond packages. */
export function inventoryNeeds(targets: ScanTarget[]): { files: string[]; commands: string[] } {
  const files = new Set<string>();
  const commands = new Set<string>();
  for (const t of targets) for (const r of t.rules) {
    if ("file" in r) files.add(r.file);
    if ("command" in r) commands.add(r.command);
  }
  return { files: [...files], commands: [...commands] };
}

/**
 * Every target on one machine. An update superseded by one that is installed counts as
 * installed (the newer update carries its fixes), whatever its own rules say.
 */
export function scanInventory(inv: MachineInventory, targets: ScanTarget[], supersededBy: Map<string, string[]> = supersessions(targets)): EntryResult[] {
  const out = new Map<string, EntryResult>();
  for (const t of targets) {
    const roles = t.patch.appliesTo?.roles;
    if (roles && !roles.some((r) => inv.roles.includes(r))) {
      out.set(t.patch.id, { patch: t.patch.id, status: "not-applicable", detail: `machine has none of the roles [${roles.join(", ")}]` });
      continue;
    }
    out.set(t.patch.id, { patch: t.patch.id, ...evaluateRules(t.rules, inv) });
  }
  for (const r of out.values()) {
    if (r.status !== "missing") continue;
    const by = (supersededBy.get(r.patch) ?? []).find((id) => out.get(id)?.status === "installed");
    if (by) {
      r.status = "installed";
      r.detail = `superseded by ${by}, which is installed (${r.detail})`;
    }
  }
  return [...out.values()];
}

/** Patch id -> ids of the patches that supersede it. */
export function supersessions(targets: ScanTarget[]): Map<string, string[]> {
  const m = new Map<string, string[]>();
  for (const t of targets) {
    if (t.patch.kind !== "apt") continue;
    for (const old of t.patch.apt.supersedes) m.set(old, [...(m.get(old) ?? []), t.patch.id]);
  }
  return m;
}
