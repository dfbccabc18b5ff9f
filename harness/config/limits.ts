// Bounds on what patchlab reads, checked before parsing: a config file is a few KB, so a
// 2 GB file, a device, or a YAML document that expands a million-fold is hostile or broken
// input, refused as such (exit 3) instead of exhausting memory or the stack.
import { ConfigError } from "../core/errors.ts";

export interface Limits {
  /** Largest config file (lab, patch, batch, policy...) read, in bytes. */
  configBytes: number;
  /** Deepest nesting of flow collections ([ and {) in a config file. The parser recurses per level. */
  flowDepth: number;
  /** Most nodes one alias (*name) may expand to: YAML "billion laughs" bombs stop here. */
  aliasCount: number;
  /** Largest .deb or package tree file a patch may bring, in bytes. */
  payloadBytes: number;
}

const DEFAULTS: Limits = {
  configBytes: 1 << 20,
  flowDepth: 64,
  aliasCount: 100,
  payloadBytes: 1 << 30,
};

const ENV: Record<keyof Limits, string> = {
  configBytes: "PATCHLAB_MAX_CONFIG_BYTES",
  flowDepth: "PATCHLAB_MAX_YAML_DEPTH",
  aliasCount: "PATCHLAB_MAX_YAML_ALIASES",
  payloadBytes: "PATCHLAB_MAX_PAYLOAD_BYTES",
};

/** The limits in force: defaults, each overridable by its environment variable. */
export function limits(): Limits {
  const out = { ...DEFAULTS };
  for (const key of Object.keys(ENV) as (keyof Limits)[]) {
    const v = positiveIntFromEnv(ENV[key]);
    if (v !== undefined) out[key] = v;
  }
  return out;
}

export function limitEnv(key: keyof Limits): string {
  return ENV[key];
}

/** A positive integer from the environment, or undefined when unset. Anything else is bad input. */
export function positiveIntFromEnv(name: string): number | undefined {
  const raw = process.env[name];
  if (raw === undefined || raw === "") return undefined;
  if (!/^\d+$/.test(raw.trim()) || Number(raw) <= 0 || !Number.isSafeInteger(Number(raw))) {
    throw new ConfigError(
      `environment variable ${name}=${JSON.stringify(raw)} is not a positive whole number`,
      `set ${name} to a whole number greater than 0, or unset it to use the default`,
      { field: name, value: raw },
    );
  }
  return Number(raw);
}

export function formatBytes(n: number): string {
  if (n >= 1 << 30) return `${(n / (1 << 30)).toFixed(n % (1 << 30) ? 1 : 0)} GiB`;
  if (n >= 1 << 20) return `${(n / (1 << 20)).toFixed(n % (1 << 20) ? 1 : 0)} MiB`;
  if (n >= 1 << 10) return `${(n / (1 << 10)).toFixed(n % (1 << 10) ? 1 : 0)} KiB`;
  return `${n} bytes`;
}

/**
 * Deepest nesting of [ and { outside quotes and comments, with where it first goes past
 * `max` (line, column). Cheap, and run before the parser, which recurses once per level
 * and crashes the whole process (out of memory) near 100 000 levels.
 */
export function flowDepthOver(text: string, max: number): { line: number; column: number } | undefined {
  let depth = 0;
  let line = 1;
  let lineStart = 0;
  let quote: '"' | "'" | undefined;
  let comment = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (c === "\n") {
      line++;
      lineStart = i + 1;
      comment = false;
      continue;
    }
    if (comment) continue;
    if (quote) {
      if (c === "\\" && quote === '"') i++;
      else if (c === quote) quote = undefined;
      continue;
    }
    if (c === '"' || c === "'") {
      // A quote opens a string only where a value starts; "it's" in a plain scalar is text.
      const prev = text[i - 1];
      if (prev === undefined || /[\s[{,:]/.test(prev)) quote = c;
    } else if (c === "#" && (i === lineStart || /\s/.test(text[i - 1]!))) {
      comment = true;
    } else if (c === "[" || c === "{") {
      if (++depth > max) return { line, column: i - lineStart + 1 };
    } else if ((c === "]" || c === "}") && depth > 0) {
      depth--;
    }
  }
  return undefined;
}
