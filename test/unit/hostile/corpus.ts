// The hostile-input corpus (test/fixtures/hostile/<case>/case.yaml): each case is a folder of
// files plus what patchlab must answer. Shared by the unit test (in-process, fast) and the
// integration test (the real CLI against the real engine: nothing may be created).
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { parse } from "yaml";
import { z } from "zod";
import { hostCapacity, type HostFacts } from "../../../harness/config/host-fit.ts";
import { parseSubnet } from "../../../harness/config/ipv4.ts";

export const CORPUS = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../fixtures/hostile");

/** Files git cannot hold (a FIFO, a 2 GB sparse file, a link to a host file) are made per run. */
const Setup = z.discriminatedUnion("kind", [
  z.object({ kind: z.literal("fifo"), path: z.string() }).strict(),
  z.object({ kind: z.literal("huge"), path: z.string() }).strict(),
  z.object({ kind: z.literal("deep"), path: z.string() }).strict(),
  z.object({ kind: z.literal("binary"), path: z.string() }).strict(),
  z.object({ kind: z.literal("many-machines"), path: z.string() }).strict(),
  z.object({ kind: z.literal("symlink"), path: z.string(), to: z.string() }).strict(),
  z.object({ kind: z.literal("sparse"), path: z.string(), bytes: z.number().int().positive() }).strict(),
]);

const Subnet = z.string().refine((s) => parseSubnet(s) !== undefined, "a CIDR subnet");

export const HostileCase = z
  .object({
    about: z.string().min(1).describe("what is hostile or broken about this input"),
    command: z.array(z.string()).min(1).describe("patchlab arguments, run with the case folder as the working directory"),
    expect: z
      .object({
        file: z.string().optional().describe("fragment of the file the error names"),
        field: z.string().optional().describe("the field (or option, or variable) the error names, exactly"),
        message: z.string().describe("fragment of the message"),
        remedy: z.string().describe("fragment of the remedy"),
      })
      .strict(),
    setup: z.array(Setup).default([]),
    env: z.record(z.string(), z.string()).default({}),
    /** The host as the unit test sees it (the integration test uses the real one). */
    host: z
      .object({
        networks: z.array(z.object({ name: z.string(), id: z.string(), subnets: z.array(Subnet), bridge: z.string().optional() }).strict()).optional(),
        routes: z.array(z.object({ iface: z.string(), subnet: Subnet }).strict()).optional(),
      })
      .strict()
      .optional(),
    integration: z.boolean().default(true).describe("false: needs a host this machine may not be (a LAN route)"),
  })
  .strict();
export type HostileCase = z.infer<typeof HostileCase> & { name: string };

export function loadCorpus(): HostileCase[] {
  return fs
    .readdirSync(CORPUS, { withFileTypes: true })
    .filter((e) => e.isDirectory() && !e.name.startsWith("_"))
    .map((e) => ({ name: e.name, ...HostileCase.parse(parse(fs.readFileSync(path.join(CORPUS, e.name, "case.yaml"), "utf8"))) }))
    .sort((a, b) => a.name.localeCompare(b.name));
}

/** The unit test's host: small and empty unless the case says otherwise. */
export function unitHostFacts(c: HostileCase): HostFacts {
  return {
    cores: 2,
    memoryBytes: 8 * 2 ** 30,
    routes: (c.host?.routes ?? []).map((r) => ({ iface: r.iface, subnet: parseSubnet(r.subnet)! })),
    networks: c.host?.networks ?? [],
  };
}

/** A fresh folder with the shared files, the case's files and what its setup makes. */
export function materialize(c: HostileCase, facts?: HostFacts): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `patchlab-hostile-${c.name}-`));
  fs.cpSync(path.join(CORPUS, "_shared"), dir, { recursive: true });
  fs.cpSync(path.join(CORPUS, c.name), dir, { recursive: true, filter: (src) => path.basename(src) !== "case.yaml" });
  for (const s of c.setup) {
    const p = path.join(dir, s.path);
    fs.mkdirSync(path.dirname(p), { recursive: true });
    switch (s.kind) {
      case "fifo":
        execFileSync("mkfifo", [p]);
        break;
      case "huge": // valid YAML (comments), 1 KiB past the 1 MiB limit
        fs.writeFileSync(p, ("# " + "x".repeat(1021) + "\n").repeat(1025));
        break;
      case "deep":
        fs.writeFileSync(p, "name: hostile\ndescription: " + "[".repeat(100_000) + "]".repeat(100_000) + "\n");
        break;
      case "binary":
        fs.writeFileSync(p, Buffer.from([0x7f, 0x45, 0x4c, 0x46, 0, 0, 0, 0, 0x6e, 0x61, 0x6d, 0x65, 0x3a, 0x20, 0x78, 0x0a]));
        break;
      case "symlink":
        fs.symlinkSync(s.to, p);
        break;
      case "sparse":
        fs.closeSync(fs.openSync(p, "w"));
        fs.truncateSync(p, s.bytes);
        fs.writeFileSync(p, "!<arch>\n", { flag: "r+" });
        break;
      case "many-machines":
        fs.writeFileSync(p, manyMachinesLab(Math.max(401, hostCapacity(facts ?? { cores: os.availableParallelism(), memoryBytes: os.totalmem() }).machines + 1)));
        break;
    }
  }
  return dir;
}

function manyMachinesLab(n: number): string {
  const machines = Array.from({ length: n }, (_, i) =>
    `  - { name: m${i}, image: ${i === 0 ? "client" : "web"}, roles: [${i === 0 ? "client" : "web"}], owner: { name: lab team, contact: lab@example.test }, site: hq, criticality: low }\n`,
  ).join("");
  // A /16 (the widest allowed) holds them all, so capacity is the only problem.
  return `name: hostile\ndomain: lab.test\nnetwork:\n  subnet: 172.30.0.0/16\nmachines:\n${machines}`;
}
