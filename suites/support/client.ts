// Commands run from the client machine's vantage point: what a user on the network sees.
import { DockerConnection } from "../../harness/lab/drivers/docker-connection.ts";
import { docker } from "../../harness/lab/drivers/docker-engine.ts";
import type { ExecOptions, ExecResult } from "../../harness/lab/types.ts";
import { suiteContext } from "./context.ts";

let conn: DockerConnection | undefined;

function client(): DockerConnection {
  const { client } = suiteContext();
  conn ??= new DockerConnection(docker(), client.container, client.name);
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
  return r;
}

/** Quotes one argument for `sh -c`. */
export function sh(arg: string): string {
  return `'${arg.replace(/'/g, `'\\''`)}'`;
}
