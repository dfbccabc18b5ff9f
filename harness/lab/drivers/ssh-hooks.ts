// Snapshot hooks of the ssh driver: commands the lab file declares, run on the harness host
// (virsh, qm, govc, a script...). Each is an argv, never a shell line: placeholders are
// replaced inside each argument, so a value can never become a second command.
import { spawn } from "node:child_process";
import { ConfigError, LabError, type LabErrorKind } from "../../core/errors.ts";
import { nullLogger, type Logger } from "../../core/log.ts";

export type HookKind = "snapshot" | "restore" | "delete" | "restart";
export const PLACEHOLDERS = ["lab", "machine", "host", "port", "user", "label"] as const;
export type HookVars = Record<(typeof PLACEHOLDERS)[number], string>;

/** Snapshot labels reach hypervisor CLIs: keep them to characters every one of them accepts. */
export const LABEL_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

export function hookArgv(kind: HookKind, argv: string[], vars: HookVars, machine: string): string[] {
  return argv.map((arg, i) =>
    arg.replace(/\{([^{}]*)\}/g, (whole, name: string) => {
      if ((PLACEHOLDERS as readonly string[]).includes(name)) return vars[name as keyof HookVars];
      throw new ConfigError(
        `ssh.hooks.${kind}[${i}] of machine ${machine} has an unknown placeholder ${whole}`,
        `use only ${PLACEHOLDERS.map((p) => `{${p}}`).join(", ")}`,
        { field: `ssh.hooks.${kind}`, value: arg },
      );
    }),
  );
}

const ERROR_KIND: Record<HookKind, LabErrorKind> = { snapshot: "snapshot", delete: "snapshot", restore: "restore", restart: "machine-start" };

export interface HookResult {
  output: string;
  durationMs: number;
}

/** Runs a hook; a non-zero exit, a missing command or a timeout is a LabError naming the hook. */
export function runHook(kind: HookKind, argv: string[], vars: HookVars, opts: { machine: string; timeoutMs: number; log?: Logger }): Promise<HookResult> {
  if (!LABEL_RE.test(vars.label)) {
    return Promise.reject(new LabError("harness", `snapshot label "${vars.label}" is not safe to pass to a hook`, "use letters, digits, '.', '_' and '-'", { machine: opts.machine }));
  }
  let cmd: string[];
  try {
    cmd = hookArgv(kind, argv, vars, opts.machine);
  } catch (e) {
    return Promise.reject(e);
  }
  const log = opts.log ?? nullLogger;
  const started = Date.now();
  log.info(`running ${kind} hook`, { argv: cmd });
  return new Promise((resolve, reject) => {
    const p = spawn(cmd[0]!, cmd.slice(1), {
      shell: false,
      stdio: ["ignore", "pipe", "pipe"],
      env: {
        ...process.env,
        PATCHLAB_HOOK: kind,
        PATCHLAB_LAB: vars.lab,
        PATCHLAB_MACHINE: vars.machine,
        PATCHLAB_HOST: vars.host,
        PATCHLAB_LABEL: vars.label,
      },
    });
    let output = "";
    p.stdout.on("data", (b: Buffer) => (output += b.toString()));
    p.stderr.on("data", (b: Buffer) => (output += b.toString()));
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      p.kill("SIGKILL");
    }, opts.timeoutMs);
    const tail = () => output.trim().split("\n").slice(-5).join(" | ").slice(0, 500);
    p.once("error", (e) => {
      clearTimeout(timer);
      const missing = (e as NodeJS.ErrnoException).code === "ENOENT";
      reject(new LabError(missing ? "dependency-missing" : ERROR_KIND[kind], `${kind} hook of ${opts.machine} could not run ${cmd[0]}: ${e.message}`, missing ? `install ${cmd[0]} on the harness host, or fix ssh.hooks.${kind} in the lab file` : "check the hook command", { machine: opts.machine }));
    });
    p.once("close", (code, signal) => {
      clearTimeout(timer);
      const durationMs = Date.now() - started;
      log.info(`${kind} hook finished`, { code, signal, ms: durationMs, output: output.slice(-2000) });
      if (code === 0) return resolve({ output, durationMs });
      const why = timedOut ? `did not finish within ${opts.timeoutMs} ms` : `exited ${code ?? signal}`;
      reject(new LabError(ERROR_KIND[kind], `${kind} hook of ${opts.machine} (${cmd.join(" ").slice(0, 200)}) ${why}: ${tail()}`, `run the hook by hand to see why; fix ssh.hooks.${kind} in the lab file`, { machine: opts.machine }));
    });
  });
}
