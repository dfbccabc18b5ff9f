// DNS queries from the client with dig, sent straight to one server without recursion, the
// way a resolver asks an authoritative server. Several queries share one exec.
import { serviceTime } from "./check.ts";
import { onClient, sh } from "./client.ts";

export interface DnsRecord {
  name: string;
  ttl: number;
  type: string;
  data: string;
}

export interface DnsAnswer {
  query: string;
  /** NOERROR, NXDOMAIN, SERVFAIL, REFUSED...; "NO ANSWER" when the server never answered. */
  status: string;
  /** Header flags, e.g. ["qr", "aa"]. */
  flags: string[];
  answer: DnsRecord[];
  authority: DnsRecord[];
  queryTimeMs: number | undefined;
  /** dig's own complaint when there was no answer (e.g. "connection timed out; no servers could be reached"). */
  error: string;
}

export interface DnsQuery {
  name: string;
  type: string;
}

const SEPARATOR = "=====patchlab-dig=====";

/** Sends every query to `server` (an address) and reports each answer; the summed query times are the service's. */
export async function dig(server: string, queries: DnsQuery[]): Promise<DnsAnswer[]> {
  const cmds = queries.map((q) => `dig @${sh(server)} ${sh(q.name)} ${sh(q.type)} +norecurse +time=2 +tries=1 2>&1; echo ${SEPARATOR}`);
  const r = await onClient(cmds.join("; "), { timeoutMs: 10_000 + queries.length * 3_000 });
  const chunks = r.stdout.split(`${SEPARATOR}\n`);
  const answers = queries.map((q, i) => parseDig(`${q.name} ${q.type}`, chunks[i] ?? ""));
  for (const a of answers) if (a.queryTimeMs !== undefined) serviceTime(a.queryTimeMs);
  return answers;
}

function parseRecords(section: string | undefined): DnsRecord[] {
  if (!section) return [];
  return section
    .split("\n")
    .filter((l) => l.trim() && !l.startsWith(";"))
    .map((l) => {
      const [name = "", ttl = "0", , type = "", ...data] = l.trim().split(/\s+/);
      return { name, ttl: Number(ttl), type, data: data.join(" ") };
    });
}

/** Reads dig's default output. */
export function parseDig(query: string, text: string): DnsAnswer {
  const status = /status: ([A-Z]+)/.exec(text)?.[1] ?? "NO ANSWER";
  const flags = (/;; flags: ([a-z ]*);/.exec(text)?.[1] ?? "").trim().split(/\s+/).filter(Boolean);
  const section = (name: string) => new RegExp(`;; ${name} SECTION:\\n([\\s\\S]*?)(?:\\n\\n|$)`).exec(text)?.[1];
  const qt = /;; Query time: (\d+) msec/.exec(text);
  const error = status === "NO ANSWER" ? (text.split("\n").find((l) => /^;; (connection|communications error|.*timed out|.*refused)/i.test(l)) ?? text.trim().split("\n").slice(-1)[0] ?? "").replace(/^;;\s*/, "") : "";
  return {
    query,
    status,
    flags,
    answer: parseRecords(section("ANSWER")),
    authority: parseRecords(section("AUTHORITY")),
    queryTimeMs: qt ? Number(qt[1]) : undefined,
    error,
  };
}

/** One line for a message: what the server said. */
export function describeAnswer(a: DnsAnswer): string {
  if (a.status === "NO ANSWER") return `${a.query}: no answer (${a.error || "dig got no reply"})`;
  const recs = a.answer.map((r) => `${r.type} ${r.data}`).join(", ");
  return `${a.query}: ${a.status}, flags [${a.flags.join(" ")}]${recs ? `, answer ${recs}` : ", empty answer"}`;
}
