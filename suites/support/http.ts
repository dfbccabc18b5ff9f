// HTTP(S) from the client with curl, pinned to the target's address with --resolve: a web
// check must test the web server, not whatever the lab's DNS answers after a dns patch.
import { serviceTime } from "./check.ts";
import { onClient, sh } from "./client.ts";

/** Where the client image installs the lab CA (and update-ca-certificates trusts it). */
export const CLIENT_CA_FILE = "/usr/local/share/ca-certificates/patchlab-lab-ca.crt";

export interface HttpResponse {
  /** 0 when no HTTP answer came back (see curlError). */
  status: number;
  headers: Record<string, string>;
  body: string;
  curlExit: number;
  curlError: string;
}

export interface HttpOptions {
  /** Connect to this address instead of resolving the URL's host. */
  ip?: string;
  /** CA bundle path on the client; without it curl uses the client's trust store. */
  cacert?: string;
  maxTimeS?: number;
}

export async function httpGet(url: string, opts: HttpOptions = {}): Promise<HttpResponse> {
  const u = new URL(url);
  const port = u.port || (u.protocol === "https:" ? "443" : "80");
  // curl's own clock (connect + TLS + answer) on stderr: the service's time, not docker exec's.
  const args = ["curl", "-sS", "-i", "--max-time", String(opts.maxTimeS ?? 10), "-w", sh(`%{stderr}${TIME_MARK} %{time_total}\n`)];
  if (opts.ip) args.push("--resolve", sh(`${u.hostname}:${port}:${opts.ip}`));
  // --capath to a missing dir: Debian's curl would otherwise also trust every CA in
  // /etc/ssl/certs, and "verifies against the lab CA" would quietly mean "against any CA".
  if (opts.cacert) args.push("--cacert", sh(opts.cacert), "--capath", "/nonexistent-capath");
  args.push(sh(url));
  const r = await onClient(args.join(" "), { timeoutMs: ((opts.maxTimeS ?? 10) + 10) * 1000 });
  const { seconds, rest } = curlTime(r.stderr);
  if (seconds !== undefined && r.exitCode === 0) serviceTime(seconds * 1000);
  return parseCurl(r.exitCode, r.stdout, rest);
}

const TIME_MARK = "patchlab-curl-time";

/** Splits curl's `-w` timing line off its stderr. */
export function curlTime(stderr: string): { seconds: number | undefined; rest: string } {
  const re = new RegExp(`^${TIME_MARK} ([\\d.]+)\\n?`, "m");
  const m = re.exec(stderr);
  if (!m) return { seconds: undefined, rest: stderr };
  return { seconds: Number(m[1]), rest: stderr.replace(m[0], "") };
}

export function parseCurl(exitCode: number, stdout: string, stderr: string): HttpResponse {
  const res: HttpResponse = { status: 0, headers: {}, body: "", curlExit: exitCode, curlError: stderr.trim() };
  if (exitCode !== 0) return res;
  const split = stdout.indexOf("\r\n\r\n");
  const head = split >= 0 ? stdout.slice(0, split) : stdout;
  res.body = split >= 0 ? stdout.slice(split + 4) : "";
  const [statusLine, ...lines] = head.split("\r\n");
  res.status = Number(/^HTTP\/[\d.]+ (\d{3})/.exec(statusLine ?? "")?.[1] ?? 0);
  for (const l of lines) {
    const i = l.indexOf(":");
    if (i > 0) res.headers[l.slice(0, i).trim().toLowerCase()] = l.slice(i + 1).trim();
  }
  return res;
}

/** What came back, for assertion messages: a failure must explain itself. */
export function describeResponse(r: HttpResponse): string {
  if (r.curlExit !== 0) return `no HTTP response (curl exit ${r.curlExit}: ${r.curlError.slice(0, 200)})`;
  return `status ${r.status}, body: ${JSON.stringify(r.body.slice(0, 200))}`;
}
