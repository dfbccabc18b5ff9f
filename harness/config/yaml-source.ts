// A parsed YAML file that remembers where every value came from, so any later check
// (schema or semantic) can point a person at file:line:col instead of "somewhere in there".
import path from "node:path";
import { LineCounter, isAlias, isMap, isPair, isScalar, isSeq, type Document, type Node } from "yaml";

export type FieldPath = readonly PropertyKey[];

export interface Position {
  line: number;
  col: number;
}

export class YamlSource {
  constructor(
    /** Absolute path. */
    readonly file: string,
    readonly doc: Document,
    readonly lineCounter: LineCounter,
    /** The plain JS value of the document (what the schema validates). */
    readonly data: unknown,
  ) {}

  /** The file as a person should see it: relative to cwd when inside it, else absolute. */
  get displayFile(): string {
    return displayPath(this.file);
  }

  position(offset: number): Position {
    return this.lineCounter.linePos(offset);
  }

  /**
   * Where the value at `fieldPath` starts. When the path does not exist (a missing key,
   * an index past the end) this is the deepest existing ancestor: for a missing key
   * that is the mapping it should be added to.
   */
  locate(fieldPath: FieldPath): Position | undefined {
    const node = this.deepestNode(fieldPath);
    return node?.range ? this.position(node.range[0]) : undefined;
  }

  /** Where the key `key` of the mapping at `mapPath` is written (for unknown keys). */
  locateKey(mapPath: FieldPath, key: string): Position | undefined {
    const map = this.nodeAt(mapPath);
    if (map && isMap(map)) {
      for (const pair of map.items) {
        if (isPair(pair) && isScalar(pair.key) && String(pair.key.value) === key && pair.key.range) {
          return this.position(pair.key.range[0]);
        }
      }
    }
    return this.locate(mapPath);
  }

  /** The node at exactly `fieldPath`, or undefined. */
  nodeAt(fieldPath: FieldPath): Node | undefined {
    const { node, depth } = this.walk(fieldPath);
    return depth === fieldPath.length ? node : undefined;
  }

  private deepestNode(fieldPath: FieldPath): Node | undefined {
    return this.walk(fieldPath).node;
  }

  private walk(fieldPath: FieldPath): { node: Node | undefined; depth: number } {
    let node = this.resolve(this.doc.contents ?? undefined);
    let depth = 0;
    for (const key of fieldPath) {
      let next: unknown;
      if (isMap(node)) next = node.get(typeof key === "number" ? key : String(key), true);
      else if (isSeq(node) && typeof key === "number") next = node.get(key, true);
      const resolved = this.resolve(next);
      if (!resolved) break;
      node = resolved;
      depth++;
    }
    return { node, depth };
  }

  /** Follow aliases (*anchor) to the node they name; plain values are not nodes. */
  private resolve(value: unknown): Node | undefined {
    if (isAlias(value)) return this.resolve(value.resolve(this.doc));
    if (isMap(value) || isSeq(value) || isScalar(value)) return value;
    return undefined;
  }
}

export function displayPath(file: string): string {
  const rel = path.relative(process.cwd(), file);
  return rel === "" || rel.startsWith("..") || path.isAbsolute(rel) ? file : rel;
}

/** Dotted path with indices: machines[2].roles[0]. */
export function formatFieldPath(fieldPath: FieldPath): string {
  let out = "";
  for (const key of fieldPath) {
    if (typeof key === "number") out += `[${key}]`;
    else out += out === "" ? String(key) : `.${String(key)}`;
  }
  return out;
}

/** The raw value at `fieldPath` inside plain data, or undefined. */
export function valueAt(data: unknown, fieldPath: FieldPath): unknown {
  let cur = data;
  for (const key of fieldPath) {
    if (cur === null || typeof cur !== "object") return undefined;
    cur = (cur as Record<PropertyKey, unknown>)[key];
  }
  return cur;
}
