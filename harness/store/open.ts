// Which store a command uses: `--store` (the CLI sets PATCHLAB_STORE from it), else
// PATCHLAB_STORE, else the embedded SQLite file. A postgres:// URL shares one history
// between runners; a file path (or sqlite:PATH) picks another SQLite file.
import path from "node:path";
import { ConfigError } from "../core/errors.ts";
import { storeFile } from "../inventory/store.ts";
import { PostgresStore, safeUrl } from "./postgres.ts";
import { SqliteStore } from "./sqlite.ts";
import type { Store } from "./types.ts";

export const STORE_ENV = "PATCHLAB_STORE";

export type StoreRef = { kind: "sqlite"; file: string } | { kind: "postgres"; url: string };

/** Parses a store reference; bad input (exit 3) names the option and what it accepts. */
export function parseStoreRef(ref: string | undefined = process.env[STORE_ENV]): StoreRef {
  const r = ref?.trim();
  if (!r) return { kind: "sqlite", file: storeFile() };
  if (/^postgres(ql)?:\/\//i.test(r)) {
    let u: URL;
    try {
      u = new URL(r);
    } catch {
      throw new ConfigError(`--store ${safeUrl(r)} is not a valid URL`, "write it as postgres://user:password@host:port/database", { field: "--store" });
    }
    if (!u.hostname) throw new ConfigError(`--store ${safeUrl(r)} names no host`, "write it as postgres://user:password@host:port/database", { field: "--store" });
    return { kind: "postgres", url: r };
  }
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(r) && !r.startsWith("sqlite:")) {
    throw new ConfigError(`--store ${r.replace(/\/\/[^@/]*@/, "//***@")}: unknown kind of store`, "use postgres://user:password@host:port/database, or a SQLite file path (default reports/inventory.sqlite)", { field: "--store" });
  }
  const file = r.replace(/^sqlite:(\/\/)?/, "");
  if (!file) throw new ConfigError("--store sqlite: names no file", "give the SQLite file, e.g. sqlite:reports/inventory.sqlite", { field: "--store" });
  return { kind: "sqlite", file: path.resolve(file) };
}

export function openStore(ref?: string): Store {
  const r = parseStoreRef(ref);
  return r.kind === "postgres" ? new PostgresStore(r.url) : new SqliteStore(r.file);
}

/** Opens the store, runs fn, always closes it. */
export async function withStore<T>(fn: (s: Store) => Promise<T> | T, ref?: string): Promise<T> {
  const s = openStore(ref);
  try {
    return await fn(s);
  } finally {
    await s.close();
  }
}
