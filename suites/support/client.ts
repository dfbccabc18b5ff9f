// Commands run from the client machine's vantage point: what a user on the network sees.
import { DockerConnection } from "../../harness/lab/drivers/docker-connection.ts";
import { dockerFor } from "../../harness/lab/drivers/docker-engine.ts";
import type { ExecOptions, ExecResult } from "../../harness/lab/types.ts";
import { serviceTime } from "./check.ts";
import { suiteContext } from "./context.ts";

let conn: DockerConnection | undefined;

/** The Docker engine the client runs on: a site engine when the context names one. */
export function clientEngine(): ReturnType<typeof dockerFor> {
  return dockerFor(suiteContext().client.engine);
}

function client(): DockerConnection {
  const { client } = suiteContext();
  conn ??= new DockerConnection(clientEngine(), client.container, client.name);
  return conn;
}

/**
 * Runs `cmd` on the client and resolves with its exit code, whatever it is: a non-zero exit is
 * for the check to judge. Rejects with a non-assertion error (recorded as broken) when the
 * command could not run at all: the client is down, or the tool is missing from its image.
 */
export async function onClient(cmd: string | string[], opts: ExecOptions = {}): Promise<ExecResult> {
  const r = await client().exec(cmd, { timeoutMs: 30_000, ...opts });
  if (r.exitCode === 126 || r.exitCode === 127) {
    const shown = (typeof cmd === "string" ? cmd : cmd.join(" ")).slice(0, 200);
    throw new Error(`client ${client().machine} could not run \`${shown}\` (exit ${r.exitCode}): ${r.stderr.trim().slice(0, 300)}`);
  }
  // A command that died with the client says nothing about the server: that is broken, not failed.
  if (r.exitCode !== 0) await assertClientRunning();
  return r;
}

/** Throws a plain Error (-> broken) when the client machine is no longer running. */
export async function assertClientRunning(): Promise<void> {
  const { client: c } = suiteContext();
  let running = false;
  try {
    running = (await clientEngine().getContainer(c.container).inspect()).State.Running;
  } catch {
    running = false;
  }
  if (!running) throw new Error(`the client machine ${c.name} (${c.container}) stopped while the check ran: the check could not be completed`);
}

/** Quotes one argument for `sh -c`. */
export function sh(arg: string): string {
  return `'${arg.replace(/'/g, `'\\''`)}'`;
}

const ELAPSED_MARK = "patchlab-elapsed-ns";

/**
 * Runs `cmd` on the client like onClient, timed by the client's own clock around the command
 * (so the engine's exec overhead is not counted), and reports that time as the service's
 * answer time when `service` is true. Returns the result with the elapsed ms.
 */
export async function timedOnClient(cmd: string, opts: ExecOptions & { service?: boolean } = {}): Promise<ExecResult & { elapsedMs: number | undefined }> {
  const { service = true, ...execOpts } = opts;
  const wrapped = `s=$(date +%s%N); ( ${cmd}\n); rc=$?; e=$(date +%s%N); echo "${ELAPSED_MARK} $((e - s))" >&2; exit $rc`;
  const r = await onClient(wrapped, execOpts);
  const m = new RegExp(`^${ELAPSED_MARK} (\\d+)\\n?`, "m").exec(r.stderr);
  const elapsedMs = m ? Number(m[1]) / 1e6 : undefined;
  if (m) r.stderr = r.stderr.replace(m[0], "");
  if (service && elapsedMs !== undefined) serviceTime(elapsedMs);
  return { ...r, elapsedMs };
}
