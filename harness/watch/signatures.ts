// Log lines -> signatures: the line with everything that changes from one occurrence to the
// next stripped (timestamps, pids, addresses, ports, numbers, hex ids, uuids), so the same
// message counts as one signature across phases, runs and machines.

const MONTH = "(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)";
const DAY = "(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun)";
const TIME = "\\d{1,2}:\\d{2}:\\d{2}(?:[.,]\\d+)?";

const RULES: [RegExp, string][] = [
  // 2024-05-01T12:00:00.123Z, 2024-05-01 12:00:00,123 +0200, 2024/05/01 12:00:00 (nginx)
  [new RegExp(`\\d{4}[-/]\\d{2}[-/]\\d{2}[T ]${TIME}(?:\\s?(?:Z|UTC|[+-]\\d{2}:?\\d{2}|[A-Z]{3,4}))?`, "g"), "<time>"],
  // [Wed Oct 11 14:32:52.123456 2023] (apache)
  [new RegExp(`${DAY} ${MONTH} +\\d{1,2} ${TIME} \\d{4}`, "g"), "<time>"],
  // 11/Oct/2023:14:32:52 +0000 (access logs)
  [new RegExp(`\\d{1,2}/${MONTH}/\\d{4}:${TIME}(?: [+-]\\d{4})?`, "g"), "<time>"],
  // 01-May-2024 12:00:00.123 (bind), May  1 12:00:00 (syslog)
  [new RegExp(`\\d{1,2}-${MONTH}-\\d{4} ${TIME}`, "g"), "<time>"],
  [new RegExp(`${MONTH} +\\d{1,2} ${TIME}`, "g"), "<time>"],
  [new RegExp(TIME, "g"), "<time>"],
  [/\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b/gi, "<uuid>"],
  [/\b(?:\d{1,3}\.){3}\d{1,3}(?::\d+)?\b/g, "<ip>"],
  // IPv6: at least two colons between hex groups (not a time: those are gone already)
  [/(?<![\w:])(?:[0-9a-f]{0,4}:){2,7}[0-9a-f]{0,4}(?![\w:])/gi, "<ip>"],
  [/\b0x[0-9a-f]+\b/gi, "<hex>"],
  // Long hex runs with at least one digit and one letter: ids, hashes, container ids.
  [/\b(?=[0-9a-f]*\d)(?=[0-9a-f]*[a-f])[0-9a-f]{8,}\b/gi, "<hex>"],
  [/\d+(?:\.\d+)?/g, "<n>"],
];

const MAX_SIGNATURE = 240;

/** The signature of one log line (pure; same message in -> same signature out). */
export function signature(line: string): string {
  let s = line;
  for (const [re, rep] of RULES) s = s.replace(re, rep);
  s = s.replace(/(?:<n>[.,:/-]?){2,}/g, "<n>").replace(/\s+/g, " ").trim();
  return s.length > MAX_SIGNATURE ? `${s.slice(0, MAX_SIGNATURE)}…` : s;
}

export interface SignatureCount {
  /** Where the lines came from: "container", "journal", "file:/var/log/nginx/error.log". */
  source: string;
  signature: string;
  /** Lines matched the error-level pattern. */
  error: boolean;
  count: number;
  /** The first few raw lines, as evidence. */
  samples: string[];
}

/** Count a source's lines by signature; lines matching `ignore` are dropped, error level by `errorPattern`. */
export function countSignatures(
  source: string,
  lines: Iterable<string>,
  opts: { errorPattern: RegExp; ignore?: RegExp[]; sampleLines?: number },
): SignatureCount[] {
  const byKey = new Map<string, SignatureCount>();
  const keep = opts.sampleLines ?? 5;
  for (const raw of lines) {
    const line = raw.replace(/\r$/, "");
    if (!line.trim()) continue;
    if (opts.ignore?.some((re) => re.test(line))) continue;
    const error = opts.errorPattern.test(line);
    const sig = signature(line);
    const key = `${error ? "E" : "I"} ${sig}`;
    let c = byKey.get(key);
    if (!c) {
      c = { source, signature: sig, error, count: 0, samples: [] };
      byKey.set(key, c);
    }
    c.count++;
    if (c.samples.length < keep) c.samples.push(line.length > 1000 ? `${line.slice(0, 1000)}…` : line);
  }
  return [...byKey.values()];
}
