// The patch application plan for people: who owns the affected machines and how to reach
// them, what will be tested, and how each patch is rolled back.
import type { Lab, Patch } from "../config/schemas.ts";
import type { MachineInventory } from "../inventory/inventory.ts";
import type { Plan } from "./schema.ts";

const esc = (s: string) => s.replace(/\|/g, "\\|");

function rollback(patch: Patch, machines: string[], inventories: MachineInventory[]): string[] {
  if (patch.kind === "deb") {
    return [
      `Uninstall the package the patch installed (\`dpkg --purge <package>\`), or, where it upgraded an existing package, reinstall the previous version; on failure restore the machine from its pre-change snapshot/backup.`,
      "In the lab, patchlab restores every machine from its pre-run snapshot and proves the restore exact.",
    ];
  }
  if (patch.kind === "script") return [`Run the vendor's uninstall command (\`${patch.script.uninstall ?? "none: restore the pre-change snapshot/backup"}\`); on failure restore the machine from its pre-change snapshot/backup.`];
  if (patch.kind === "files") return [`Put back the originals kept in /var/backups/patchlab/${patch.id} (\`patchlab\` does it on uninstall); on failure restore the machine from its pre-change snapshot/backup.`];
  const names = [...new Set(patch.apt.packages.map((p) => p.name))];
  const lines = [
    `Downgrade to exactly the versions each machine has now, from the lab update server (which carries both versions), and remove any package the update newly pulled in:`,
    "",
    "| machine | packages and versions to return to |",
    "|---|---|",
  ];
  for (const m of machines) {
    const inv = inventories.find((i) => i.machine === m);
    const back = names.filter((n) => inv?.packages.has(n)).map((n) => `${n}=${inv!.packages.get(n)!.version}`);
    lines.push(`| ${m} | ${back.length ? `\`apt-get install --allow-downgrades ${back.join(" ")}\`` : "(unknown: rescan)"} |`);
  }
  lines.push("", "Configuration files are kept (`--force-confold`); if the downgrade fails, restore the machine from its pre-change snapshot/backup.");
  return lines;
}

export function planMarkdown(plan: Plan, lab: Lab, patches: Patch[], inventories: MachineInventory[]): string {
  const out: string[] = [
    `# Patch application plan: ${plan.batch}`,
    "",
    `- Lab: **${lab.name}** (${lab.description ?? lab.domain})`,
    `- Policy: **${plan.policy}**`,
    `- Created: ${plan.createdAt}`,
    "",
    "## Summary",
    "",
    "| patch | severity | applicability | machines | phases | suites | applications |",
    "|---|---|---|---|---|---|---|",
    ...plan.patches.map((p) => `| ${p.patch} | ${p.severity} | ${p.applicability} | ${p.machines.join(", ") || "-"} | ${p.phases.join(" → ") || "-"} | ${p.applicability === "applicable" ? p.depth : "-"} | ${p.applicability === "applicable" ? (p.applications ? "yes" : "no") : "-"} |`),
    "",
  ];
  for (const p of plan.patches) {
    const patch = patches.find((x) => x.id === p.patch)!;
    out.push(`## ${p.patch}: ${esc(patch.title)}`, "");
    out.push(`- Severity: **${p.severity}** — ${esc(p.reason)}`);
    if (patch.cves.length) out.push(`- Fixes: ${patch.cves.join(", ")}`);
    if (patch.kind === "apt") out.push(`- Update: source package \`${patch.apt.source}\` ${patch.apt.version} from ${patch.apt.suite}${patch.apt.released ? `, released ${patch.apt.released.slice(0, 10)}` : ""}${patch.apt.supersedes.length ? `; supersedes ${patch.apt.supersedes.join(", ")}` : ""}`);
    if (p.applicability === "not-applicable") {
      out.push(`- **Not applicable**: nothing to test or deploy.`, "");
      continue;
    }
    out.push(`- Test phases: ${p.phases.join(" → ")}; ${p.depth} role suites${p.applications ? " and the application suites" : ""}`, "");
    out.push("### Affected machines", "", "| machine | roles | owner | contact | site | criticality |", "|---|---|---|---|---|---|");
    for (const name of p.machines) {
      const m = lab.machines.find((x) => x.name === name)!;
      out.push(`| ${m.name} | ${m.roles.join(", ")} | ${esc(m.owner.name)} | ${esc(m.owner.contact)} | ${esc(m.site)} | ${m.criticality} |`);
    }
    out.push("", "### Rollback plan", "", ...rollback(patch, p.machines, inventories), "");
  }
  const owners = new Map<string, string[]>();
  for (const p of plan.patches) for (const name of p.machines) {
    const m = lab.machines.find((x) => x.name === name)!;
    const key = `${m.owner.name} <${m.owner.contact}>`;
    owners.set(key, [...new Set([...(owners.get(key) ?? []), name])]);
  }
  out.push("## Who to contact", "", ...[...owners].map(([o, ms]) => `- ${esc(o)}: ${ms.join(", ")}`), "");
  return out.join("\n");
}
