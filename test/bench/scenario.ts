// One end-to-end comparison: patchlab's `run <batch>` through the real CLI, new batch to
// verdict, against the same raw work done by raw-sequential.sh, raw-parallel.sh and the Ansible
// playbook, measured back to back under one hold of the Docker lock (same machine, same load).
// The raw runners do what patchlab did: the install cycles are read from that run's records.
import { DB, SMB } from "../../harness/lab/roles/credentials.ts";
import fs from "node:fs";
import path from "node:path";
import YAML from "yaml";
import { loadLab } from "../../harness/config/loader.ts";
import { repoRoot, reportsRoot } from "../../harness/core/paths.ts";
import { networkName } from "../../harness/lab/addressing.ts";
import { DockerDriver } from "../../harness/lab/drivers/docker-driver.ts";
import { docker } from "../../harness/lab/drivers/docker-engine.ts";
import { breakdownRun, installCycles, rawProbes, rawTimings, type RunBreakdown } from "./breakdown.ts";
import type { BenchPatch } from "./fixtures.ts";
import { HERE, must, patchlab, timed, type Timed } from "./util.ts";

export interface RawResult {
  ms: number;
  code: number;
  /** Per machine: summed ms per step (snapshot, baseline, install, ...). */
  steps: Record<string, Partial<Record<string, number>>>;
  probes: { machine: string; phase: string; passed: number; failed: number }[];
  peakMb: number;
}

/** One `patchlab run` through the CLI, new batch to verdict. */
export interface PatchlabRun { args: string[]; ms: number; exit: number; verdict: string; verdicts: Record<string, string>; runDir: string; peakTreeMb: number; peakMainMb: number; breakdown: RunBreakdown }

/**
 * patchlab doing the raw cycle's work: no watchers (their 10 s observation window per suite
 * phase), no soak, no second application (idempotence). The raw runners do none of those; the
 * ratios to the raw work are this run's. The run with patchlab's defaults is measured too.
 */
export const SAME_WORK = ["--no-watch", "--soak", "0", "--idempotence", "off"];

export interface ScenarioResult {
  name: string;
  batch: string;
  patches: string[];
  /** patchlab with SAME_WORK: the run the raw runners repeat and are compared with. */
  patchlab: PatchlabRun;
  /** patchlab with its defaults (watchers, soak, idempotence): what a user's run costs. */
  defaults?: PatchlabRun;
  cycles: Record<string, string[][]>;
  rawSequential?: RawResult;
  rawParallel?: RawResult;
  ansible?: RawResult & { note?: string };
  notes: string[];
}

/** `patchlab run <batch> --json [extra]`; exit 1 (a rejection) is an answer, not an error. */
export async function runPatchlab(name: string, batch: string, work: string, extra: string[]): Promise<PatchlabRun> {
  const label = extra.length ? "same work" : "defaults";
  console.log(`[bench] ${name}: patchlab run ${path.basename(batch)} (${label})`);
  const pl = await patchlab(["run", batch, "--json", ...extra], { log: path.join(work, "logs", name, `patchlab-${label.replace(" ", "-")}.log`), env: { PATCHLAB_QUIET: "1" } });
  if (![0, 1].includes(pl.code)) throw new Error(`patchlab run ${extra.join(" ")} exited ${pl.code} (no decision):\n${(pl.stdout + pl.stderr).slice(-3000)}`);
  const gate = JSON.parse(pl.stdout) as { verdict: string; run: { id: string }; patches: { patch: string; verdict: string }[] };
  const runDir = path.join(reportsRoot(), gate.run.id);
  console.log(`[bench] ${name}: patchlab (${label}) ${(pl.ms / 1000).toFixed(1)} s, verdict ${gate.verdict}`);
  return {
    args: extra, ms: pl.ms, exit: pl.code, verdict: gate.verdict, verdicts: Object.fromEntries(gate.patches.map((p) => [p.patch, p.verdict])),
    runDir, peakTreeMb: pl.rss.treeMb, peakMainMb: pl.rss.mainMb, breakdown: breakdownRun(runDir),
  };
}

/** Roles whose suite exists here: the raw runners probe those and only those, as patchlab does. */
export function rolesWithSuites(): string[] {
  return ["web", "dns", "db", "file", "app"].filter((r) => fs.existsSync(path.join(repoRoot, "suites", "roles", `${r}.spec.ts`)));
}

function rawOf(t: Timed): RawResult {
  return { ms: t.ms, code: t.code, steps: Object.fromEntries(rawTimings(t.stdout)), probes: rawProbes(t.stdout), peakMb: t.rss.treeMb };
}

export async function runScenario(o: { name: string; batch: string; lab: string; ids: string[]; patches: BenchPatch[]; work: string; ansible: boolean; parallel: boolean; defaults?: PatchlabRun | "skip" }): Promise<ScenarioResult> {
  const notes: string[] = [];
  const logs = path.join(o.work, "logs", o.name);
  // 1. patchlab, new batch to verdict, doing the raw cycle's work (and with its defaults, unless measured already).
  const defaults = o.defaults === "skip" ? undefined : (o.defaults ?? (await runPatchlab(o.name, o.batch, o.work, [])));
  const pl = await runPatchlab(o.name, o.batch, o.work, SAME_WORK);
  const cycles = installCycles(pl.runDir);
  console.log(`[bench] ${o.name}: cycles ${JSON.stringify(Object.fromEntries(cycles))}`);
  const result: ScenarioResult = { name: o.name, batch: o.batch, patches: o.ids, patchlab: pl, ...(defaults ? { defaults } : {}), cycles: Object.fromEntries(cycles), notes };
  if (defaults && JSON.stringify(Object.fromEntries(installCycles(defaults.runDir))) !== JSON.stringify(result.cycles)) {
    notes.push(`patchlab with its defaults did other install cycles (${JSON.stringify(Object.fromEntries(installCycles(defaults.runDir)))}) than with ${SAME_WORK.join(" ")}: the raw runners repeat the latter`);
  }

  // 2. The raw runners' plan: each target machine, its role, and patchlab's install cycles.
  const { lab } = await loadLab(o.lab);
  const handles = new DockerDriver(docker()).handlesFor(lab);
  const byId = new Map(o.patches.map((p) => [p.id, p]));
  const targets = handles.filter((h) => cycles.has(h.spec.name));
  const roleOf = (h: (typeof handles)[number]) => h.spec.roles.find((r) => r !== "client")!;
  const planFile = path.join(o.work, `plan-${o.name}.txt`);
  fs.writeFileSync(planFile, targets.map((h) => [h.spec.name, h.container, roleOf(h), h.ip, h.fqdn, cycles.get(h.spec.name)!.map((set) => set.map((id) => `${byId.get(id)!.deb}:${byId.get(id)!.pkg}`).join(",")).join(";")].join(" ")).join("\n") + "\n");
  const client = handles.find((h) => h.spec.roles.includes("client"))!;
  const probeRoles = rolesWithSuites();
  const missing = [...new Set(targets.map(roleOf))].filter((r) => !probeRoles.includes(r));
  if (missing.length) notes.push(`roles without a suite here (${missing.join(", ")}): patchlab records them as missing, and the raw runners do not probe them either`);
  const env = {
    CLIENT: client.container,
    NETWORK: networkName(lab.name),
    DOMAIN: lab.domain,
    MACHINES: handles.map((h) => `${h.spec.name} ${h.fqdn} ${h.ip} ${h.spec.roles.join(",")}`).join(";"),
    PROBE_ROLES: probeRoles.join(" "),
    // The lab's passwords (its secrets, as provisioning set them): the raw runners hand them to the tools by environment.
    DB_PASSWORD: DB.password,
    SMB_PASSWORD: SMB.password,
  };

  // 3. The same work, raw: one machine after another, then all at once.
  console.log(`[bench] ${o.name}: raw-sequential.sh`);
  result.rawSequential = rawOf(await timed("bash", [path.join(HERE, "raw-sequential.sh"), planFile], { env: { ...env, RAW_TAG: `seq-${Date.now()}` }, log: path.join(logs, "raw-sequential.log") }));
  if (o.parallel) {
    console.log(`[bench] ${o.name}: raw-parallel.sh`);
    result.rawParallel = rawOf(await timed("bash", [path.join(HERE, "raw-parallel.sh"), planFile], { env: { ...env, RAW_TAG: `par-${Date.now()}` }, log: path.join(logs, "raw-parallel.log") }));
  }

  // 4. Ansible, the tool a team would pick instead.
  if (o.ansible) {
    const inventory = {
      all: {
        vars: { tag: `ans-${Date.now()}`, network: env.NETWORK, domain: env.DOMAIN, machines: env.MACHINES, probe_roles: probeRoles },
        hosts: {
          localhost: { ansible_connection: "local", ansible_python_interpreter: "/usr/bin/python3" },
          client: { ansible_connection: "community.docker.docker", ansible_host: client.container },
        },
        children: {
          targets: {
            hosts: Object.fromEntries(targets.map((h) => [h.spec.name, {
              ansible_connection: "community.docker.docker", ansible_host: h.container, container: h.container, role: roleOf(h), ip: h.ip, fqdn: h.fqdn,
              cycles: cycles.get(h.spec.name)!.map((set) => set.map((id) => ({ deb: byId.get(id)!.deb, pkg: byId.get(id)!.pkg }))),
            }])),
          },
        },
      },
    };
    const inv = path.join(o.work, `inventory-${o.name}.yml`);
    fs.writeFileSync(inv, YAML.stringify(inventory));
    console.log(`[bench] ${o.name}: ansible-playbook`);
    const a = await timed("ansible-playbook", ["-v", "-i", inv, path.join(HERE, "ansible", "playbook.yml")], {
      env: { DB_PASSWORD: env.DB_PASSWORD, SMB_PASSWORD: env.SMB_PASSWORD, ANSIBLE_CONFIG: path.join(HERE, "ansible", "ansible.cfg"), ANSIBLE_NOCOLOR: "1", ANSIBLE_LOCAL_TEMP: path.join(o.work, "ansible-tmp"), ANSIBLE_HOME: path.join(o.work, "ansible-home") },
      log: path.join(logs, "ansible.log"),
    });
    result.ansible = { ...rawOf(a), probes: ansibleProbes(a.stdout) };
    if (a.code !== 0) notes.push(`ansible-playbook exited ${a.code} (see ${path.relative(repoRoot, path.join(logs, "ansible.log"))})`);
  }
  must(await patchlab(["lab", "status", o.lab]), `lab ${o.lab} healthy after the raw runners`);
  return result;
}

/** Probe outcomes out of the playbook's verbose-less output: counted from the script's ok lines. */
function ansibleProbes(stdout: string): RawResult["probes"] {
  // With -v each script result shows its output twice (stdout, then stdout_lines): a check line
  // starts after a quote or a \n escape in each, hence the halving.
  const okN = (stdout.match(/(?:"|\\n)ok /g) ?? []).length / 2;
  const bad = (stdout.match(/(?:"|\\n)not ok /g) ?? []).length / 2;
  return okN + bad ? [{ machine: "*", phase: "*", passed: okN, failed: bad }] : [];
}
