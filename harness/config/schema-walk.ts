// Just enough zod introspection to write remedies: which keys are valid at a path
// (for "did you mean `roles:`?") and what a field is for (its .describe() text).
import { z } from "zod";
import type { FieldPath } from "./yaml-source.ts";

type AnySchema = z.core.$ZodType;

/** The parts of a zod def we read; zod's own def types are a wide union. */
interface LooseDef {
  type: string;
  shape?: Record<string, AnySchema>;
  element?: AnySchema;
  innerType?: AnySchema;
  options?: AnySchema[];
  in?: AnySchema;
  getter?: () => AnySchema;
}

const defOf = (s: AnySchema): LooseDef => s._zod.def as unknown as LooseDef;

/** Strip wrappers (optional, default, pipe, lazy...) that do not change the shape. */
function unwrap(s: AnySchema): AnySchema[] {
  const def = defOf(s);
  if (def.innerType) return unwrap(def.innerType);
  if (def.type === "pipe" && def.in) return unwrap(def.in);
  if (def.type === "lazy" && def.getter) return unwrap(def.getter());
  if (def.type === "union" && def.options) return def.options.flatMap(unwrap);
  return [s];
}

/** Every schema that may validate the value at `fieldPath` (several under a union). */
export function schemasAt(root: AnySchema, fieldPath: FieldPath): AnySchema[] {
  let current: AnySchema[] = [root];
  for (const key of fieldPath) {
    const next: AnySchema[] = [];
    for (const s of current.flatMap(unwrap)) {
      const def = defOf(s);
      if (def.type === "object" && def.shape && typeof key === "string" && key in def.shape) next.push(def.shape[key]!);
      if (def.type === "array" && def.element && typeof key === "number") next.push(def.element);
    }
    current = next;
    if (current.length === 0) break;
  }
  return current;
}

/** The keys an object at `fieldPath` accepts, in schema order. */
export function keysAt(root: AnySchema, fieldPath: FieldPath): string[] {
  const keys = new Set<string>();
  for (const s of schemasAt(root, fieldPath).flatMap(unwrap)) {
    const def = defOf(s);
    if (def.type === "object" && def.shape) for (const k of Object.keys(def.shape)) keys.add(k);
  }
  return [...keys];
}

/** The keys an object at `fieldPath` requires (neither optional nor defaulted). */
export function requiredKeysAt(root: AnySchema, fieldPath: FieldPath): string[] {
  const keys = new Set<string>();
  for (const s of schemasAt(root, fieldPath).flatMap(unwrap)) {
    const def = defOf(s);
    if (def.type !== "object" || !def.shape) continue;
    for (const [k, v] of Object.entries(def.shape)) if (v._zod.optin !== "optional") keys.add(k);
  }
  return [...keys];
}

/** The alternatives of the union at `fieldPath`, each as its list of keys (for "use one of"). */
export function unionShapesAt(root: AnySchema, fieldPath: FieldPath): string[][] {
  return schemasAt(root, fieldPath)
    .flatMap(unwrap)
    .map((s) => defOf(s))
    .filter((d) => d.type === "object" && d.shape)
    .map((d) => Object.keys(d.shape!));
}

/** The .describe() text of the field at `fieldPath`, if any. */
export function descriptionAt(root: AnySchema, fieldPath: FieldPath): string | undefined {
  for (const s of schemasAt(root, fieldPath)) {
    const d = z.globalRegistry.get(s)?.description;
    if (d) return d;
  }
  return undefined;
}

/** The object alternatives of the union at `fieldPath` (a discriminated union's branches). */
export function unionBranchesAt(root: AnySchema, fieldPath: FieldPath): AnySchema[] {
  return schemasAt(root, fieldPath)
    .flatMap(unwrap)
    .filter((s) => defOf(s).type === "object");
}
