// The single source of truth for every file format patchlab reads. Types are inferred
// from these schemas and JSON Schema for editors is exported from them (npm run schemas).
// `.strict()` everywhere: an unknown key is almost always a typo, and a typo silently
// ignored is a check silently skipped.
import { z } from "zod";
import { filesFields, HotfixOptions, scriptFields } from "../patch/schemas.ts";

/** Server roles a lab machine can play; each has an image recipe and a suite. */
export const ServerRole = z.enum(["web", "dns", "db", "file", "ssh", "app", "client", "updates"]);
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

/** Fields every machine has, whatever runs it. */
const machineCommon = {
  name: name.describe("machine name; also its host name and DNS label in the lab domain"),
  roles: z.array(ServerRole).min(1).describe("server roles this machine plays; each role brings its suite"),
  applications: z.array(Application).default([]).describe("line-of-business applications hosted here"),
  suites: z
    .array(z.string().regex(/\.spec\.[cm]?[jt]s$/, "must be a spec file (*.spec.ts)"))
    .default([])
    .describe("extra suites for this machine (spec files, relative to the lab file), required in every phase beside its role and application suites"),
  owner: Owner,
  site: z.string().min(1).describe("where the production twin of this machine lives"),
  criticality: Criticality,
  ip: z.ipv4().optional().describe("fixed address in the lab subnet; assigned in order from .10 when omitted"),
};

export const DockerMachine = z
  .object({
    // Optional rather than defaulted: every lab file and machine written before drivers existed
    // stays valid as it is, and absent means docker.
    driver: z.literal("docker").optional().describe("what runs the machine: docker (default), vm (QEMU) or ssh (an existing server)"),
    image: name.describe("image recipe under lab-config/images/<image>/"),
    ...machineCommon,
  })
  .strict()
  .meta({ title: "Docker machine", description: "One container of the lab, shaped like a production server." });
export type DockerMachine = z.infer<typeof DockerMachine>;

/** A command run on the harness host, as argv (no shell). {machine}, {label}, {host}, {lab} are substituted per argument. */
const HookArgv = z
  .array(z.string().min(1))
  .min(1)
  .describe("argv run on the harness host (no shell); {lab}, {machine}, {host} and {label} are replaced inside each argument");

export const SnapshotHooks = z
  .object({
    snapshot: HookArgv.describe("takes a snapshot called {label}, e.g. [virsh, snapshot-create-as, '{machine}', '{label}']"),
    restore: HookArgv.describe("reverts to snapshot {label}, e.g. [virsh, snapshot-revert, '{machine}', '{label}']"),
    delete: HookArgv.optional().describe("deletes snapshot {label}; without it snapshots are left to the hypervisor"),
    restart: HookArgv.optional().describe("restarts the machine from outside (e.g. [virsh, reboot, '{machine}']); default: reboot from inside over SSH"),
    timeoutSeconds: z.number().int().min(1).max(3600).default(300).describe("how long a hook may run before it counts as a lab error"),
  })
  .strict();
export type SnapshotHooks = z.infer<typeof SnapshotHooks>;

export const SshTarget = z
  .object({
    host: z.string().min(1).regex(/^[A-Za-z0-9.:_-]+$/, "must be a host name or an IP address").describe("address the harness reaches the machine's sshd at"),
    port: z.number().int().min(1).max(65535).default(22),
    user: z.string().regex(/^[a-z_][a-z0-9_-]{0,31}$/, "must be a Unix user name").default("root").describe("login user; anyone but root needs password-less sudo"),
    credentials: name
      .optional()
      .describe("entry under machines: in the lab secrets file (or PATCHLAB_SECRET_MACHINE_<NAME>_* variables) holding the key or password; default: the machine name"),
    knownHosts: z
      .string()
      .min(1)
      .optional()
      .describe("known_hosts file the host key is checked against (relative to lab-config/, ~ for home); default ~/.ssh/known_hosts"),
    trustOnFirstUse: z
      .boolean()
      .default(false)
      .describe("accept and record the key of a host not yet in knownHosts (a changed key is always refused)"),
    hooks: SnapshotHooks.optional().describe("hypervisor commands for snapshot and restore; without them the snapshot check is not possible and uninstall is the rollback"),
  })
  .strict();
export type SshTarget = z.infer<typeof SshTarget>;

export const SshMachine = z
  .object({
    driver: z.literal("ssh"),
    ssh: SshTarget,
    ...machineCommon,
  })
  .strict()
  .meta({ title: "SSH machine", description: "An existing machine reached only over SSH (a server, or a VM managed elsewhere)." });
export type SshMachine = z.infer<typeof SshMachine>;

export const VmSpec = z
  .object({
    image: name.describe("VM image recipe under lab-config/images/vm/<image>/"),
    memory: z.number().int().min(128).max(65536).default(512).describe("memory in MiB"),
    cpus: z.number().int().min(1).max(64).default(1),
  })
  .strict();
export type VmSpec = z.infer<typeof VmSpec>;

export const VmMachine = z
  .object({
    driver: z.literal("vm"),
    vm: VmSpec,
    ...machineCommon,
  })
  .strict()
  .meta({ title: "VM machine", description: "A QEMU virtual machine booted from a Debian image the harness builds." });
export type VmMachine = z.infer<typeof VmMachine>;

export const Machine = z
  .discriminatedUnion("driver", [DockerMachine, SshMachine, VmMachine])
  .meta({ title: "Machine", description: "One machine of the lab: a container (default), a QEMU VM, or an existing server over SSH." });
export type Machine = z.infer<typeof Machine>;
export type MachineDriver = NonNullable<Machine["driver"]>;

/** Which driver runs a machine (absent means docker). */
export const driverOf = (m: Machine): MachineDriver => m.driver ?? "docker";
export const isDockerMachine = (m: Machine): m is DockerMachine => driverOf(m) === "docker";

/** Client files for an engine reached over TCP with TLS (paths relative to the lab file, or absolute). */
export const EngineTls = z
  .object({
    ca: z.string().min(1).describe("CA certificate the engine's certificate is checked against (PEM)"),
    cert: z.string().min(1).describe("client certificate (PEM)"),
    key: z.string().min(1).describe("client private key (PEM)"),
  })
  .strict();
export type EngineTls = z.infer<typeof EngineTls>;

/** unix:///path, tcp://host:port or ssh://[user@]host[:port]; checked in detail by lab-checks.ts. */
export const ENGINE_URL = /^(unix:\/\/\/|tcp:\/\/|ssh:\/\/)/;

export const Site = z
  .object({
    engine: z
      .string()
      .regex(ENGINE_URL, "must be unix:///path/to/docker.sock, tcp://host:port or ssh://user@host")
      .describe("Docker engine this site's containers run on; PATCHLAB_ENGINE_<SITE> (site upper-cased, '-' as '_') overrides it on a runner"),
    tls: EngineTls.optional().describe("client TLS files for a tcp:// engine"),
    subnet: z
      .cidrv4()
      .describe("IPv4 subnet of the lab network on this engine: two engines on one host cannot both own network.subnet, so each site engine has its own"),
  })
  .strict()
  .meta({ title: "Site", description: "Where the containers of one site run: their Docker engine and that engine's lab subnet." });
export type Site = z.infer<typeof Site>;

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
    sites: z
      .record(z.string().min(1), Site)
      .optional()
      .describe("site name (a machine's `site:`) -> the Docker engine its containers run on; a site without an entry uses the default engine (DOCKER_HOST, else /var/run/docker.sock)"),
  })
  .strict()
  .meta({
    title: "patchlab lab",
    description: "A lab of Docker machines that resembles a production site (lab-config/labs/<name>.yaml).",
  });
export type Lab = z.infer<typeof Lab>;

export const Severity = z.enum(["critical", "important", "moderate", "low"]);
export type Severity = z.infer<typeof Severity>;

/** Where a deb patch's package comes from. */
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

const patchId = z
  .string()
  .regex(
    /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/,
    "must be letters, digits, '.', '_' and '-', starting with a letter or digit (max 64)",
  )
  .describe("unique patch id, e.g. DSA-5678-1");

/** Fields every kind of patch has. */
const patchCommon = {
  id: patchId,
  title: z.string().min(1),
  vendor: z.string().min(1).default("debian"),
  severity: Severity,
  advisory: z.url().optional().describe("the vendor's advisory for this update (e.g. a DSA page)"),
  cves: z
    .array(z.string().regex(/^CVE-\d{4}-\d{4,}$/, "must look like CVE-2024-12345"))
    .default([])
    .describe("CVE ids the patch fixes"),
  restart: z
    .enum(["none", "machine"])
    .default("none")
    .describe("whether the machine must restart after install (several patches share one restart)"),
};

const debianVersion = z
  .string()
  .regex(/^(\d+:)?[0-9][A-Za-z0-9.+~:-]*$/, "must be a Debian version such as 1.22.1-9+deb12u2 or 1:9.18.28-1~deb12u2");
const debianPackage = z.string().regex(/^[a-z0-9][a-z0-9+.-]+$/, "must be a Debian package name (lower-case letters, digits, '+', '-', '.')");
const sha256Hex = z.string().regex(/^[0-9a-f]{64}$/, "must be 64 lower-case hex digits (a sha256)");

/**
 * How a machine is found to have a patch: all rules that apply must hold. A rule whose
 * subject is absent (package not installed, file missing) does not apply; a patch none of
 * whose rules apply is "not applicable" to the machine.
 */
export const DetectRule = z.union([
  z
    .object({
      package: debianPackage.describe("installed package to look at"),
      minVersion: debianVersion.describe("installed when the package's version is at least this (Debian ordering)"),
      whenAbsent: z.enum(["not-applicable", "missing"]).default("not-applicable").describe("what a machine without the package is"),
    })
    .strict(),
  z
    .object({
      file: z.string().regex(/^\//, "must be an absolute path").describe("file on the machine"),
      sha256: sha256Hex.describe("installed when the file has this sha256"),
      whenAbsent: z.enum(["not-applicable", "missing"]).default("not-applicable"),
    })
    .strict(),
  z
    .object({
      command: z.string().min(1).describe("shell command run on the machine (read-only, please)"),
      exitCode: z.number().int().min(0).max(255).optional().describe("installed when the command exits with this code (default 0 unless `output` is given)"),
      output: z.string().min(1).optional().describe("installed when stdout matches this regular expression"),
    })
    .strict(),
]);
export type DetectRule = z.infer<typeof DetectRule>;

const roleTargets = z
  .object({ roles: z.array(ServerRole).min(1).describe("machines with any of these roles receive the patch") })
  .strict();

export const DebPatch = z
  .object({
    ...patchCommon,
    kind: z.literal("deb"),
    deb: DebSource,
    options: HotfixOptions.optional(),
    appliesTo: roleTargets,
    detect: z.array(DetectRule).optional().describe("how a scan tells the patch is installed (default: the .deb's package at its version)"),
  })
  .strict();
export type DebPatch = z.infer<typeof DebPatch>;

/** One binary package of an archive update, as Debian's signed index describes it. */
export const AptPackage = z
  .object({
    name: debianPackage,
    version: debianVersion,
    architecture: z.string().regex(/^[a-z0-9-]+$/),
    sha256: sha256Hex.describe("sha256 of the .deb, from the signed Packages index"),
    size: z.number().int().positive().optional(),
    filename: z.string().min(1).optional().describe("path of the .deb in the archive (pool/...)"),
  })
  .strict();
export type AptPackage = z.infer<typeof AptPackage>;

export const AptSpec = z
  .object({
    suite: z.string().min(1).describe("Debian suite the update comes from, e.g. bookworm-security"),
    source: debianPackage.describe("source package"),
    version: debianVersion.describe("source package version of the update"),
    urgency: z.enum(["low", "medium", "high", "emergency", "critical"]).optional().describe("urgency from the update's changelog"),
    released: z.string().optional().describe("date of the update's changelog entry (ISO 8601)"),
    supersedes: z.array(patchId).default([]).describe("ids of older updates of the same source package this one replaces"),
    packages: z
      .array(AptPackage)
      .min(1)
      .describe("the binary packages of the update: a machine gets, at exactly these versions, those of them it has installed"),
  })
  .strict();
export type AptSpec = z.infer<typeof AptSpec>;

export const AptPatch = z
  .object({
    ...patchCommon,
    kind: z.literal("apt"),
    apt: AptSpec,
    appliesTo: roleTargets.optional().describe("limit to machines with these roles (default: every machine that has one of the packages)"),
    detect: z.array(DetectRule).optional().describe("how a scan tells the patch is installed (default: each package at least at its version)"),
  })
  .strict();
export type AptPatch = z.infer<typeof AptPatch>;

/** script: a vendor installer; files: replaced files (harness/patch/schemas.ts). */
export const ScriptPatch = z.object({ ...patchCommon, ...scriptFields, appliesTo: roleTargets }).strict();
export const FilesPatch = z.object({ ...patchCommon, ...filesFields, appliesTo: roleTargets }).strict();

/** A patch manifest: a discriminated union on `kind` (deb: a .deb file; apt: an archive update; script; files). */
export const Patch = z
  .discriminatedUnion("kind", [DebPatch, AptPatch, ScriptPatch, FilesPatch])
  .meta({ title: "patchlab patch manifest", description: "One patch to verify on the lab: a .deb (kind: deb), a Debian archive update (kind: apt), a vendor installer (kind: script) or replaced files (kind: files)." });
export type Patch = z.infer<typeof Patch>;
export type PatchKind = Patch["kind"];

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
