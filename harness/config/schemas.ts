// The single source of truth for every file format patchlab reads. Types are inferred
// from these schemas and JSON Schema for editors is exported from them (npm run schemas).
// `.strict()` everywhere: an unknown key is almost always a typo, and a typo silently
// ignored is a check silently skipped.
import { z } from "zod";
import { filesFields, HotfixOptions, scriptFields } from "../patch/schemas.ts";

/** Server roles a lab machine can play; each has an image recipe and a suite. */
export const ServerRole = z.enum(["web", "dns", "db", "file", "ssh", "app", "client"]);
export type ServerRole = z.infer<typeof ServerRole>;

/** Line-of-business applications the lab can host. */
export const Application = z.enum(["dokuwiki"]);
export type Application = z.infer<typeof Application>;

const name = z
  .string()
  .regex(/^[a-z][a-z0-9-]{0,30}$/, "must be lower-case letters, digits and '-', starting with a letter (max 31)");

export const Criticality = z.enum(["low", "medium", "high", "critical"]);

export const Owner = z
  .object({
    name: z.string().min(1),
    contact: z.string().min(3).describe("e-mail or on-call alias to reach when this machine's patch fails"),
  })
  .strict();

export const Machine = z
  .object({
    name: name.describe("machine name; also its host name and DNS label in the lab domain"),
    image: name.describe("image recipe under lab-config/images/<image>/"),
    roles: z.array(ServerRole).min(1).describe("server roles this machine plays; each role brings its suite"),
    applications: z.array(Application).default([]).describe("line-of-business applications hosted here"),
    owner: Owner,
    site: z.string().min(1).describe("where the production twin of this machine lives"),
    criticality: Criticality,
    ip: z.ipv4().optional().describe("fixed address in the lab subnet; assigned in order from .10 when omitted"),
  })
  .strict()
  .meta({ title: "Machine", description: "One container of the lab, shaped like a production server." });
export type Machine = z.infer<typeof Machine>;

export const Lab = z
  .object({
    name: name.describe("lab name; prefixes every container, network and snapshot"),
    description: z.string().optional(),
    domain: z
      .string()
      .regex(/^[a-z0-9-]+(\.[a-z0-9-]+)+$/, "must be a DNS domain such as lab.test")
      .describe("DNS domain the lab's dns machine is authoritative for"),
    network: z
      .object({
        subnet: z.cidrv4().describe("IPv4 subnet of the lab's own Docker network, e.g. 172.30.77.0/24"),
      })
      .strict(),
    machines: z.array(Machine).min(1).describe("the lab's machines; at least one must play the client role"),
  })
  .strict()
  .meta({
    title: "patchlab lab",
    description: "A lab of Docker machines that resembles a production site (lab-config/labs/<name>.yaml).",
  });
export type Lab = z.infer<typeof Lab>;

export const Severity = z.enum(["critical", "important", "moderate", "low"]);
export type Severity = z.infer<typeof Severity>;

/** How the patch is delivered. Later kinds (archive package, script, files) extend this union. */
export const DebSource = z.union([
  z.object({ file: z.string().min(1).describe(".deb file, relative to the manifest") }).strict(),
  z
    .object({
      build: z
        .string()
        .min(1)
        .describe("package tree (DEBIAN/control + files), relative to the manifest; built with dpkg-deb"),
    })
    .strict(),
]);

export const DebPatch = z
  .object({
    id: z
      .string()
      .regex(
        /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/,
        "must be letters, digits, '.', '_' and '-', starting with a letter or digit (max 64)",
      )
      .describe("unique patch id, e.g. DSA-5678-1"),
    title: z.string().min(1),
    vendor: z.string().min(1).default("debian"),
    severity: Severity,
    advisory: z.url().optional().describe("the vendor's advisory for this update (e.g. a DSA page)"),
    cves: z
      .array(z.string().regex(/^CVE-\d{4}-\d{4,}$/, "must look like CVE-2024-12345"))
      .default([])
      .describe("CVE ids the patch fixes"),
    kind: z.literal("deb"),
    deb: DebSource,
    options: HotfixOptions.optional(),
    appliesTo: z
      .object({ roles: z.array(ServerRole).min(1).describe("machines with any of these roles receive the patch") })
      .strict(),
    restart: z
      .enum(["none", "machine"])
      .default("none")
      .describe("whether the machine must restart after install (several patches share one restart)"),
  })
  .strict();
export type DebPatch = z.infer<typeof DebPatch>;
export const ScriptPatch = DebPatch.omit({ kind: true, deb: true, options: true }).extend(scriptFields).strict();
export const FilesPatch = DebPatch.omit({ kind: true, deb: true, options: true }).extend(filesFields).strict();
export const Patch = z
  .discriminatedUnion("kind", [DebPatch, ScriptPatch, FilesPatch])
  .meta({ title: "patchlab patch manifest", description: "One patch to verify on the lab: a .deb (kind: deb), a vendor installer (kind: script) or replaced files (kind: files)." });
export type Patch = z.infer<typeof Patch>;

export const Batch = z
  .object({
    name: name,
    description: z.string().optional(),
    lab: z.string().min(1).describe("lab name (lab-config/labs/<name>.yaml) or a path relative to this file"),
    patches: z
      .array(z.string().min(1))
      .min(1)
      .describe("patch manifests, relative to this file"),
  })
  .strict()
  .meta({
    title: "patchlab batch",
    description: "A set of patches verified together on one lab (lab-config/batches/<name>.yaml).",
  });
export type Batch = z.infer<typeof Batch>;
