// Parsers for command-line values, so a bad one is refused as bad input (exit 3) naming the
// option, never turned into "no deadline at all" (Number("NaN") is NaN; NaN ms never passes).
import { InvalidArgumentError } from "commander";

/** Longest deadline an option takes: a day. Past that it is a typo (ms for s), not a plan. */
export const MAX_SECONDS = 86_400;

/** A positive, finite number of seconds, at most a day. */
export function parseSeconds(value: string): number {
  const text = value.trim();
  const n = Number(text);
  if (text === "" || !/^\d+(\.\d+)?$/.test(text) || !Number.isFinite(n)) {
    throw new InvalidArgumentError(`expected a number of seconds such as 180, got "${value}"`);
  }
  if (n <= 0) throw new InvalidArgumentError(`a deadline must be more than 0 seconds, got "${value}"`);
  if (n > MAX_SECONDS) throw new InvalidArgumentError(`at most ${MAX_SECONDS} seconds (a day), got "${value}"; was it meant in seconds?`);
  return n;
}

/** A whole number from 1 to 1000 (e.g. --concurrency). */
export function parseCount(value: string): number {
  const text = value.trim();
  if (!/^\d+$/.test(text)) throw new InvalidArgumentError(`expected a whole number such as 4, got "${value}"`);
  const n = Number(text);
  if (n < 1 || n > 1000) throw new InvalidArgumentError(`expected 1 to 1000, got "${value}"`);
  return n;
}

/** reject | warn | off (--idempotence). */
export function parseIdempotence(value: string): "reject" | "warn" | "off" {
  if (value === "reject" || value === "warn" || value === "off") return value;
  throw new InvalidArgumentError(`expected reject, warn or off, got "${value}"`);
}

/** Seconds of soak: 0 (none) up to a week (--soak). */
export function parseSoak(value: string): number {
  const text = value.trim();
  if (!/^\d+(\.\d+)?$/.test(text)) throw new InvalidArgumentError(`expected a number of seconds such as 60 (0: no soak), got "${value}"`);
  const n = Number(text);
  if (n > 7 * 86_400) throw new InvalidArgumentError(`at most a week (${7 * 86_400} s), got "${value}"`);
  return n;
}
