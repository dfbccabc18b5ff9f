// Waivers (lab-config/waivers.yaml): a person accepts a known failure for a while, with a
// reason and their name. Pure: matching and expiry take "today" as input, never the clock.
import { z } from "zod";

const isoDate = z
  .string()
  .regex(/^\d{4}-\d{2}-\d{2}$/, "must be a date YYYY-MM-DD")
  .refine((s) => !Number.isNaN(Date.parse(`${s}T00:00:00Z`)) && new Date(`${s}T00:00:00Z`).toISOString().startsWith(s), "is not a real calendar date");

export const Waiver = z
  .object({
    id: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/, "letters, digits, '.', '_' and '-' (max 64)").optional().describe("a reference people can quote"),
    check: z
      .string()
      .min(1)
      .max(500)
      .optional()
      .describe("check title (or suite/step name); '*' matches any run of characters"),
    patch: z.string().min(1).max(64).optional().describe("patch id"),
    machine: z.string().min(1).max(64).optional().describe("lab machine name"),
    phase: z.string().min(1).max(32).optional().describe("baseline, install, post-install, uninstall, post-uninstall, ..."),
    reason: z.string().min(10, "say why the failure is acceptable (at least 10 characters)").max(2000),
    approver: z.string().min(3).max(200).describe("who accepted the risk"),
    expires: isoDate.describe("last day the waiver applies (YYYY-MM-DD); after it the failure blocks again"),
  })
  .strict()
  .refine((w) => w.check !== undefined || w.patch !== undefined || w.machine !== undefined, {
    message: "a waiver must name at least one of check, patch or machine (a waiver of everything waives nothing on purpose)",
  });
export type Waiver = z.infer<typeof Waiver>;

export const WaiverFile = z
  .object({ waivers: z.array(Waiver).default([]) })
  .strict()
  .meta({ title: "patchlab waivers (lab-config/waivers.yaml)", description: "Accepted failures, each with reason, approver and expiry." });
export type WaiverFile = z.infer<typeof WaiverFile>;

/** What a waiver is matched against. */
export interface WaiverSubject {
  patch: string;
  machine: string;
  phase: string;
  /** Check title, and the suite or step name: a waiver may name either. */
  names: string[];
}

/**
 * Whether `text` matches `pattern`, where '*' matches any run of characters. Greedy with one
 * saved backtrack point (O(pattern x text) at worst): a regex of `.*` per star backtracks
 * exponentially, and a 41-character hostile waiver held the gate for over a minute.
 */
export function globMatch(pattern: string, text: string): boolean {
  let p = 0;
  let t = 0;
  let star = -1;
  let mark = 0;
  while (t < text.length) {
    if (p < pattern.length && pattern[p] !== "*" && pattern[p] === text[t]) {
      p++;
      t++;
    } else if (p < pattern.length && pattern[p] === "*") {
      star = p++;
      mark = t;
    } else if (star >= 0) {
      p = star + 1;
      t = ++mark;
    } else {
      return false;
    }
  }
  while (p < pattern.length && pattern[p] === "*") p++;
  return p === pattern.length;
}

export function waiverMatches(w: Waiver, s: WaiverSubject): boolean {
  if (w.patch !== undefined && w.patch !== s.patch) return false;
  if (w.machine !== undefined && w.machine !== s.machine) return false;
  if (w.phase !== undefined && w.phase !== s.phase) return false;
  if (w.check !== undefined) {
    if (!s.names.some((n) => globMatch(w.check!, n))) return false;
  }
  return true;
}

/** A waiver applies through its expiry day (`today` is YYYY-MM-DD). */
export const waiverExpired = (w: Waiver, today: string): boolean => today > w.expires;

/** The first unexpired waiver that matches, and the expired ones that would have. */
export function findWaiver(waivers: Waiver[], s: WaiverSubject, today: string): { active?: Waiver; expired: Waiver[] } {
  const matching = waivers.filter((w) => waiverMatches(w, s));
  const active = matching.find((w) => !waiverExpired(w, today));
  return { ...(active ? { active } : {}), expired: matching.filter((w) => waiverExpired(w, today)) };
}
