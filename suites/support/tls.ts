// The certificate a server presents, as seen from the client (openssl ships with the
// client's ca-certificates package).
import { sh, timedOnClient } from "./client.ts";

export interface ServerCertificate {
  subject: string;
  notAfter: Date;
  /** subjectAltName entries, e.g. "DNS:web.lab.test". */
  altNames: string[];
}

/** The leaf certificate at ip:port for SNI `host`, or the reason none could be read. */
export async function serverCertificate(host: string, ip: string, port = 443): Promise<ServerCertificate | { error: string }> {
  const r = await timedOnClient(
    `openssl s_client -connect ${sh(`${ip}:${port}`)} -servername ${sh(host)} </dev/null 2>/dev/null` +
      ` | openssl x509 -noout -subject -enddate -ext subjectAltName`,
    { timeoutMs: 20_000 },
  );
  if (r.exitCode !== 0) return { error: `no certificate read from ${ip}:${port} (exit ${r.exitCode}): ${r.stderr.trim().slice(0, 200)}` };
  return parseX509Text(r.stdout);
}

export function parseX509Text(text: string): ServerCertificate | { error: string } {
  const subject = /^subject=(.*)$/m.exec(text)?.[1]?.trim() ?? "";
  const notAfterText = /^notAfter=(.*)$/m.exec(text)?.[1]?.trim();
  const notAfter = notAfterText ? new Date(notAfterText) : undefined;
  if (!notAfter || Number.isNaN(notAfter.getTime())) return { error: `no readable expiry date in: ${text.slice(0, 200)}` };
  const sanLine = /Subject Alternative Name:\s*\n\s*(.*)/.exec(text)?.[1] ?? "";
  const altNames = sanLine.split(",").map((s) => s.trim().replace(/^IP Address:/, "IP:")).filter(Boolean);
  return { subject, notAfter, altNames };
}
