/**
 * Nested JSON as columns: the leaves of a `json_group_structure` flattened to `parent__child` columns
 * (`nested: flatten` and `tables`), and masks on paths inside a JSON value applied by rewriting the
 * value in SQL. The structure is metadata (one per file); rows never leave DuckDB. Pure.
 */

import type { ColumnConfig, NestedConfig } from "../config/schema.js";
import { normalizeColumnNames, toSnakeCase } from "./column-names.js";
import { type Mask, maskExpression } from "./masking.js";
import { jsonPointer } from "./read-sql.js";
import { quoteLiteral } from "./sql-text.js";

/** What joins the segments of a flattened name: `address.city` → `address__city`. */
export const NESTED_SEPARATOR = "__";

/** The generated key of a row in `nested: tables` mode (parent rows and child rows alike). */
export const ROW_ID_COLUMN = "_sluice_id";

/** One column of flattened JSON: the keys leading to it, its name in the rows, and its structure. */
export interface NestedLeaf {
  /** The keys as the document spells them, outermost first. */
  readonly path: readonly string[];
  readonly name: string;
  /** Its `json_group_structure`: a type name, `[...]` for an array, an object when not flattened. */
  readonly structure: unknown;
}

/** Whether a structure is a JSON object with keys (json_group_structure gives "JSON" for `{}`). */
export function isObjectStructure(structure: unknown): structure is Record<string, unknown> {
  return (
    typeof structure === "object" &&
    structure !== null &&
    !Array.isArray(structure) &&
    Object.keys(structure).length > 0
  );
}

/** One segment of a flattened name, normalized as a top-level key would be. */
function segmentName(key: string, naming: "snake_case" | "keep"): string {
  const name = naming === "keep" ? key.trim() : toSnakeCase(key);
  return name === "" ? "field" : name;
}

/**
 * The leaves of an object structure: objects are flattened while their path is shorter than
 * `maxDepth` keys; arrays, scalars and deeper objects are leaves (JSON for arrays and objects). Names
 * are unique and never one of Sluice's own columns.
 *
 * @example
 * flattenStructure({ id: "UBIGINT", address: { city: "VARCHAR" } }, 5, "snake_case")
 * // => [{ path: ["id"], name: "id", ... }, { path: ["address", "city"], name: "address__city", ... }]
 */
export function flattenStructure(
  structure: Record<string, unknown>,
  maxDepth: number,
  naming: "snake_case" | "keep",
): NestedLeaf[] {
  const leaves: { path: string[]; structure: unknown }[] = [];
  const walk = (node: Record<string, unknown>, prefix: string[]) => {
    for (const [key, value] of Object.entries(node)) {
      const path = [...prefix, key];
      if (isObjectStructure(value) && path.length < maxDepth) walk(value, path);
      else leaves.push({ path, structure: value });
    }
  };
  walk(structure, []);
  const names = normalizeColumnNames(
    leaves.map((l) => l.path.map((k) => segmentName(k, naming)).join(NESTED_SEPARATOR)),
    "keep",
  );
  return leaves.map((l, i) => ({ ...l, name: names[i]! }));
}

/** The JSON pointer of a path (`/address/city`). */
export function pathPointer(path: readonly string[]): string {
  return path.map(jsonPointer).join("");
}

/**
 * The name a `columns:` key means when the pipeline flattens nested JSON: `address.city`,
 * `address__city` and `Address.City` all mean `address__city` (each segment normalized).
 *
 * @example
 * nestedColumnName("Address.City", "snake_case") // => "address__city"
 */
export function nestedColumnName(key: string, naming: "snake_case" | "keep"): string {
  return key
    .split(/\.|__/)
    .map((s) => segmentName(s, naming))
    .join(NESTED_SEPARATOR);
}

/**
 * The names of the paths inside a JSON column of structure `structure` (through arrays and objects),
 * as `columns:` keys name them: `items` holding `[{ sku, tags: [...] }]` gives `items__sku`,
 * `items__tags`. Masks may name these.
 */
export function pathsInside(column: string, structure: unknown, naming: "snake_case" | "keep"): string[] {
  const names: string[] = [];
  const walk = (node: unknown, prefix: string) => {
    if (Array.isArray(node)) return walk(node[0], prefix);
    if (!isObjectStructure(node)) return;
    for (const [key, value] of Object.entries(node)) {
      const name = `${prefix}${NESTED_SEPARATOR}${segmentName(key, naming)}`;
      names.push(name);
      walk(value, name);
    }
  };
  walk(structure, column);
  return names;
}

/** Whether nested values are flattened (and split) rather than kept as JSON columns. */
export function flattensNested(nested: NestedConfig | undefined): nested is NestedConfig {
  return nested !== undefined && nested.mode !== "json";
}

/** A mask inside a JSON value: at a leaf a mask, else the masks below each key (by normalized name). */
type MaskTree = { readonly mask: Mask } | { readonly below: Map<string, MaskTree> };

/**
 * The masks the pipeline declares below a column: `items__sku: { mask: hash }` under column `items`
 * gives `{ sku: hash }`. Empty when none.
 */
export function masksBelow(
  column: string,
  columns: Readonly<Record<string, ColumnConfig>>,
): Map<string, MaskTree> {
  const root = new Map<string, MaskTree>();
  const prefix = `${column}${NESTED_SEPARATOR}`;
  for (const [name, config] of Object.entries(columns)) {
    if (config.mask === undefined || !name.startsWith(prefix)) continue;
    const segments = name.slice(prefix.length).split(NESTED_SEPARATOR);
    let level = root;
    for (const [i, segment] of segments.entries()) {
      if (i === segments.length - 1) {
        level.set(segment, { mask: config.mask });
        break;
      }
      const next = level.get(segment);
      if (next && "mask" in next) break; // a mask above already covers this path
      const below = next?.below ?? new Map<string, MaskTree>();
      level.set(segment, { below });
      level = below;
    }
  }
  return root;
}

/**
 * SQL rewriting the JSON value `valueSql` (of structure `structure`) with the masks of `masks` applied
 * inside it, through arrays and objects alike; a masked key holding NULL, or masked by `null` or
 * `drop`, is removed. `depth` names the lambda variables apart. Returns `valueSql` when no mask
 * reaches into the structure.
 *
 * @example
 * maskJsonSql("json_extract(j, '/items')", [{ sku: "VARCHAR" }], new Map([["sku", { mask: "hash" }]]), salt, "snake_case")
 */
export function maskJsonSql(
  valueSql: string,
  structure: unknown,
  masks: ReadonlyMap<string, MaskTree>,
  salt: string,
  naming: "snake_case" | "keep",
  depth = 0,
): string {
  if (masks.size === 0) return valueSql;
  if (Array.isArray(structure))
    return maskedArraySql(valueSql, structure, masks, salt, naming, depth) ?? valueSql;
  // Values of varying shape (an object here, text there): one that might hold a masked path goes.
  if (structure === "JSON") return "NULL::JSON";
  const patch = maskPatchSql(valueSql, structure, masks, salt, naming, depth);
  if (patch === undefined) return valueSql;
  return `CASE WHEN json_type(${valueSql}) = 'OBJECT' THEN json_merge_patch(${valueSql}, ${patch}) END`;
}

/** The array with each element masked, or undefined when no mask reaches into its elements. */
function maskedArraySql(
  valueSql: string,
  structure: readonly unknown[],
  masks: ReadonlyMap<string, MaskTree>,
  salt: string,
  naming: "snake_case" | "keep",
  depth: number,
): string | undefined {
  const x = `_e${depth}`;
  const inner = maskJsonSql(x, structure[0], masks, salt, naming, depth + 1);
  if (inner === x) return undefined;
  // A value that is not an array where arrays were seen is dropped rather than left unmasked.
  return `to_json(list_transform(TRY_CAST(${valueSql} AS JSON[]), lambda ${x}: ${inner}))`;
}

/**
 * A JSON merge patch (RFC 7396) masking the keys of an object: masked leaves set to their masked value
 * (NULL removes the key), objects below patched in place, arrays replaced by their masked copy.
 */
function maskPatchSql(
  valueSql: string,
  structure: unknown,
  masks: ReadonlyMap<string, MaskTree>,
  salt: string,
  naming: "snake_case" | "keep",
  depth: number,
): string | undefined {
  if (masks.size === 0 || !isObjectStructure(structure)) return undefined;
  const patches: string[] = [];
  for (const [key, value] of Object.entries(structure)) {
    const tree = masks.get(segmentName(key, naming));
    if (!tree) continue;
    const at = `json_extract(${valueSql}, ${quoteLiteral(jsonPointer(key))})`;
    let patched: string | undefined;
    if ("mask" in tree) {
      patched =
        tree.mask === "drop" || tree.mask === "null"
          ? "NULL::VARCHAR"
          : (maskExpression(
              tree.mask,
              `json_extract_string(${valueSql}, ${quoteLiteral(jsonPointer(key))})`,
              salt,
              "VARCHAR",
            ) ?? "NULL::VARCHAR");
    } else if (Array.isArray(value)) {
      patched = maskedArraySql(at, value, tree.below, salt, naming, depth + 1);
    } else if (value === "JSON") {
      patched = "NULL::VARCHAR";
    } else {
      const below = maskPatchSql(at, value, tree.below, salt, naming, depth + 1);
      // Not an object here (a mixed structure): the value goes rather than stays unmasked.
      if (below !== undefined) patched = `CASE WHEN json_type(${at}) = 'OBJECT' THEN ${below} END`;
    }
    if (patched !== undefined) patches.push(`${quoteLiteral(key)}, ${patched}`);
  }
  return patches.length === 0 ? undefined : `json_object(${patches.join(", ")})`;
}
