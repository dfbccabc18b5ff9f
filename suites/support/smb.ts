// SMB from the client with smbclient, as the lab user (password in the PASSWD environment
// variable, never on a command line or in a message). Several smbclient calls share one
// exec; each reports its own exit code and output.
import { SMB } from "../../harness/lab/roles/credentials.ts";
import { sh, timedOnClient } from "./client.ts";

export interface SmbStep {
  command: string;
  exitCode: number;
  output: string;
  /** The NT_STATUS_* code smbclient printed, if any. */
  status: string | undefined;
}

const MARK = "@@patchlab-smb-step";

/**
 * Runs each of `commands` (smbclient -c syntax) in its own smbclient session on //ip/share,
 * in order. `password` defaults to the lab user's.
 */
export async function smbSteps(
  ip: string,
  commands: string[],
  o: { share?: string; password?: string; before?: string; after?: string } = {},
): Promise<SmbStep[] & { after?: string }> {
  const share = `//${ip}/${o.share ?? SMB.share}`;
  const script = [
    ...(o.before ? [o.before] : []),
    ...commands.map((c) => `smbclient -t 5 ${sh(share)} -U ${sh(SMB.user)} -c ${sh(c)} 2>&1; echo "${MARK} $?"`),
    ...(o.after ? [o.after] : []),
  ].join("\n");
  const r = await timedOnClient(script, { env: { PASSWD: o.password ?? SMB.password }, timeoutMs: 15_000 + commands.length * 10_000 });
  const parts = r.stdout.split(new RegExp(`^${MARK} (\\d+)$`, "m"));
  // split with a capture group: [out0, rc0, out1, rc1, ..., rest]
  const steps: SmbStep[] & { after?: string } = commands.map((command, i) => {
    const output = (parts[i * 2] ?? "").trim();
    const rc = parts[i * 2 + 1];
    return { command, exitCode: rc === undefined ? -1 : Number(rc), output, status: /NT_STATUS_[A-Z_]+/.exec(output)?.[0] };
  });
  if (o.after) steps.after = (parts[commands.length * 2] ?? "").trim();
  return steps;
}

const MEANING: Record<string, string> = {
  NT_STATUS_BAD_NETWORK_NAME: "the share does not exist on the server",
  NT_STATUS_LOGON_FAILURE: "the server refused the lab user's login",
  NT_STATUS_ACCESS_DENIED: "the lab user is not allowed to do this",
  NT_STATUS_CONNECTION_REFUSED: "nothing listens for SMB on port 445",
  NT_STATUS_HOST_UNREACHABLE: "the server cannot be reached",
  NT_STATUS_IO_TIMEOUT: "the server did not answer in time",
  NT_STATUS_OBJECT_NAME_NOT_FOUND: "the file is not there",
  NT_STATUS_NO_SUCH_FILE: "the file is not there",
};

/** One line for a message: what smbclient said and what it means. */
export function describeStep(s: SmbStep): string {
  const meaning = s.status ? MEANING[s.status] : undefined;
  const first = s.output.split("\n").find((l) => /NT_STATUS|failed|error/i.test(l)) ?? s.output.split("\n")[0] ?? "";
  return `\`${s.command}\` exited ${s.exitCode}${s.status ? ` with ${s.status}${meaning ? ` (${meaning})` : ""}` : ""}${first && !s.status ? `: ${first.slice(0, 200)}` : ""}`;
}

/** Names in the output of smbclient's `ls`. */
export function listedNames(output: string): string[] {
  return output
    .split("\n")
    .map((l) => /^\s{2}(.+?)\s+[ADHNRS]*\s+\d+\s+\w{3} \w{3}\s+\d+ [\d:]+ \d{4}$/.exec(l)?.[1])
    .filter((n): n is string => n !== undefined && n !== "." && n !== "..");
}
