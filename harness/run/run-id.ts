import crypto from "node:crypto";

/** Sortable, readable and unique: 20261126-071502-demo-3fa2. */
export function newRunId(name: string): string {
  const t = new Date().toISOString().replace(/[-:]/g, "").replace("T", "-").slice(0, 15);
  return `${t}-${name.replace(/[^a-z0-9-]/gi, "").slice(0, 24)}-${crypto.randomBytes(2).toString("hex")}`;
}
