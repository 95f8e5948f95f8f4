/**
 * What Sluice knows of a JSON-lines chunk it wrote itself from records it parsed (a stream batch): the
 * keys of its records with the kinds of their values, and which lines are poison. With it the chunk's
 * records can be read by DuckDB in one pass (see stage-own-records.ts) instead of the file way.
 */
export interface OwnRecords {
  /** Top-level keys in the order they first appear, with the kinds of their values (see {@link KIND}). */
  readonly keys: readonly OwnKey[];
  /** False when the records cannot be read the one-pass way (see {@link recordShape}). */
  readonly flat: boolean;
  /** The poison lines of the chunk (1-based line numbers) and their text, in order. */
  readonly poison: readonly { readonly line: number; readonly text: string }[];
  /** The good lines alone, when the chunk holds poison lines; absent: the chunk is read as it is. */
  readonly goodText?: string | undefined;
}

/** One top-level key and the kinds of its values ({@link KIND} bits). */
export interface OwnKey {
  readonly name: string;
  kinds: number;
}

/** Kinds of JSON values, as bits. */
export const KIND = { null: 1, string: 2, number: 4, boolean: 8, nested: 16 } as const;

/** An array index in JavaScript's key order: such keys come first, whatever the document's order. */
const INDEX_LIKE = /^(?:0|[1-9]\d{0,9})$/;

/**
 * Collects the keys and kinds of parsed records, in the order DuckDB's `json_group_structure` gives them
 * (first appearance). `flat` turns false for what the one-pass read does not take: an object or array
 * value, a key JavaScript orders differently from the document (array-index-like), an empty key, or one
 * beginning with `_sluice` (Sluice's own columns). Pure.
 *
 * @example
 * const shape = recordShape(); shape.add({ id: 1, name: "a" }); shape.keys // [{ name: "id", kinds: 4 }, ...]
 */
export function recordShape(): {
  add(record: Record<string, unknown>): void;
  readonly keys: OwnKey[];
  readonly flat: boolean;
} {
  const keys: OwnKey[] = [];
  const byName = new Map<string, OwnKey>();
  let flat = true;
  return {
    add(record) {
      for (const name in record) {
        let key = byName.get(name);
        if (!key) {
          if (name === "" || INDEX_LIKE.test(name) || name.startsWith("_sluice")) flat = false;
          key = { name, kinds: 0 };
          byName.set(name, key);
          keys.push(key);
        }
        const value = record[name];
        const t = typeof value;
        const kind =
          value === null
            ? KIND.null
            : t === "string"
              ? KIND.string
              : t === "number"
                ? KIND.number
                : t === "boolean"
                  ? KIND.boolean
                  : KIND.nested;
        if (kind === KIND.nested) flat = false;
        key.kinds |= kind;
      }
    },
    keys,
    get flat() {
      return flat;
    },
  };
}
