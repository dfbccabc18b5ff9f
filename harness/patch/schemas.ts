// Manifest parts of the `script` and `files` patch kinds, and the hotfix-installer options
// every kind understands. Kept free of imports from config/schemas.ts (which builds the Patch
// union from these), so there is no import cycle.
import { z } from "zod";

/** A path inside the patch folder: relative, no `..`, no empty segments. */
const payloadPath = z
  .string()
  .min(1)
  .refine((p) => !p.startsWith("/") && !p.split("/").some((s) => s === ".." || s === ""), {
    message: "must be a path relative to the manifest, inside its folder (no leading '/', no '..')",
  });

/** Where on a machine a file may be placed: absolute, normalised, not a kernel or runtime filesystem. */
const machinePath = z
  .string()
  .regex(/^\/[^\0]*$/, "must be an absolute path on the machine")
  .refine((p) => !p.split("/").slice(1).some((s) => s === ".." || s === "." || s === ""), { message: "must be a normalised path (no '.', '..' or '//')" })
  .refine((p) => !/^\/(proc|sys|dev|run)(\/|$)/.test(p), { message: "must not be under /proc, /sys, /dev or /run (not files a patch can replace)" });

const exitCode = z.number().int().min(0).max(255);

/** What a patch manager asks of any hotfix installer. Unset: the run's defaults apply. */
export const HotfixOptions = z
  .object({
    deferRestart: z
      .boolean()
      .optional()
      .describe("keep the installer from restarting services or the machine; the harness restarts what needs it once, after the batch (default: the run's)"),
    uninstallBackup: z
      .boolean()
      .optional()
      .describe("keep what the patch replaces so uninstall can put it back (default true); false saves disk and time, and uninstall then needs review"),
  })
  .strict()
  .meta({ title: "hotfix options" });
export type HotfixOptions = z.infer<typeof HotfixOptions>;

export const ScriptSpec = z
  .object({
    version: z.string().min(1).describe("version of what the installer installs: the payload's identity in gate.json"),
    payload: z
      .array(payloadPath)
      .default([])
      .describe("files or folders next to the manifest, uploaded to the machine; the commands run in that folder"),
    install: z.string().min(1).describe("shell command that installs the patch"),
    uninstall: z.string().min(1).optional().describe("shell command that removes the patch; without one the patch cannot be uninstalled (needs review)"),
    detect: z
      .string()
      .min(1)
      .describe("shell command that exits 0 when the patch is installed and 1 when it is not (any other exit: detection is broken)"),
    flags: z
      .object({
        quiet: z.string().min(1).optional().describe("argument(s) that make the installer unattended, always passed (a lab has nobody to answer prompts)"),
        noRestart: z.string().min(1).optional().describe("argument(s) that keep it from restarting anything, passed when the restart is deferred"),
        noBackup: z.string().min(1).optional().describe("argument(s) that skip its uninstall backup, passed when uninstallBackup is false"),
      })
      .strict()
      .default({})
      .describe("how this installer spells the hotfix options; each is appended to the install and uninstall commands when it applies"),
    exitCodes: z
      .object({
        success: z.array(exitCode).min(1).default([0]).describe("exit codes meaning installed"),
        restartRequired: z.array(exitCode).default([]).describe("exit codes meaning installed, the machine must restart (e.g. 3010 on Windows, 100 here)"),
      })
      .strict()
      .default({ success: [0], restartRequired: [] }),
    timeoutSeconds: z.number().int().positive().max(7200).optional().describe("step timeout for install and uninstall (default: the run's)"),
  })
  .strict()
  .meta({ title: "script installer", description: "A vendor installer: install, uninstall and detect commands, shipped with its payload." });
export type ScriptSpec = z.infer<typeof ScriptSpec>;

export const FileReplacement = z
  .object({
    source: payloadPath.describe("the new file, relative to the manifest"),
    target: machinePath.describe("the file on the machine it replaces (or creates)"),
    mode: z.string().regex(/^[0-7]{3,4}$/, "must be an octal mode such as 0644").optional().describe("default: the original's, or 0644 for a new file"),
    owner: z.string().regex(/^[a-z_][a-z0-9_-]*$/, "must be a user name").optional().describe("default: the original's, or root"),
    group: z.string().regex(/^[a-z_][a-z0-9_-]*$/, "must be a group name").optional().describe("default: the original's, or root"),
  })
  .strict();
export type FileReplacement = z.infer<typeof FileReplacement>;

export const FilesSpec = z
  .object({
    version: z.string().min(1).describe("version of the file set: the payload's identity in gate.json"),
    replace: z
      .array(FileReplacement)
      .min(1)
      .refine((rs) => new Set(rs.map((r) => r.target)).size === rs.length, { message: "each target may be replaced once" })
      .describe("files to put in place; the originals are kept and put back on uninstall"),
    afterInstall: z.string().min(1).optional().describe("shell command run once the files are in place (e.g. reload the service that reads them)"),
    afterUninstall: z.string().min(1).optional().describe("shell command run once the originals are back"),
    timeoutSeconds: z.number().int().positive().max(7200).optional(),
  })
  .strict()
  .meta({ title: "file replacement", description: "Replace files on the machine, keeping the originals." });
export type FilesSpec = z.infer<typeof FilesSpec>;

/** The kind-specific members of the Patch union (config/schemas.ts adds the common fields). */
export const scriptFields = { kind: z.literal("script"), script: ScriptSpec, options: HotfixOptions.optional() };
export const filesFields = { kind: z.literal("files"), files: FilesSpec, options: HotfixOptions.optional() };
