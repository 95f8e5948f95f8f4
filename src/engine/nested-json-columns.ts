import type { ColumnConfig, NestedConfig } from "../config/schema.js";
import { normalizeColumnNames } from "../plan/column-names.js";
import { MASK_SALT_SQL } from "../plan/masking.js";
import {
  flattenStructure,
  flattensNested,
  maskJsonSql,
  masksBelow,
  pathPointer,
  pathsInside,
  ROW_ID_COLUMN,
} from "../plan/nested-json.js";
import { jsonPointer, type StagedColumn } from "../plan/read-sql.js";

/** One column of a JSON file's stage: where its value is in each record and how masks reach into it. */
export interface NestedJsonLeaf {
  readonly name: string;
  /** The path as the document spells it (`address.city`), for messages. */
  readonly sourceName: string;
  readonly pointer: string;
  readonly structure: unknown;
  /** The paths inside the leaf's JSON values (`items__sku`), which masks may name. */
  readonly inside?: readonly string[] | undefined;
  /** Wraps the SQL of the leaf's JSON value with the masks declared below it (identity when none). */
  readonly maskJson: (valueSql: string) => string;
}

/** The columns a JSON file's records become, and (`nested: tables`) the generated row key. */
export interface NestedJsonColumns {
  readonly leaves: readonly NestedJsonLeaf[];
  readonly rowId?: {
    readonly column: StagedColumn;
    readonly cast: {
      readonly name: string;
      readonly valueSql: string;
      readonly type: string;
      readonly config: undefined;
      readonly cast: false;
    };
  };
}

/**
 * The stage columns of a JSON file from its records' `json_group_structure`: top-level keys (`json`,
 * the default), or objects flattened to `parent__child` columns up to `max_depth` keys (`flatten`,
 * `tables`). Masks declared on paths inside a JSON column (`items.sku`) are applied to its value as it
 * is staged, so no later step (checks, quarantine, child tables) sees it unmasked. `tables` adds
 * {@link ROW_ID_COLUMN}, a generated key child rows point back to.
 *
 * @example
 * nestedJsonColumns({ a: { b: "VARCHAR" } }, { mode: "flatten", max_depth: 5 }, {}, "snake_case").leaves[0].name // => "a__b"
 */
export function nestedJsonColumns(
  structure: Record<string, unknown>,
  nested: NestedConfig | undefined,
  columns: Readonly<Record<string, ColumnConfig>>,
  naming: "snake_case" | "keep",
): NestedJsonColumns {
  if (!flattensNested(nested)) {
    const keys = Object.keys(structure);
    const names = normalizeColumnNames(keys, naming);
    return {
      leaves: keys.map((key, i) => ({
        name: names[i]!,
        sourceName: key,
        pointer: jsonPointer(key),
        structure: structure[key],
        maskJson: (sql: string) => sql,
      })),
    };
  }
  const flat = flattenStructure(structure, nested.max_depth, naming);
  const leaves = flat.map((leaf) => {
    // The generated key's name is Sluice's: a document key of that name is renamed.
    const name = leaf.name.toLowerCase() === ROW_ID_COLUMN ? `${leaf.name}_2` : leaf.name;
    const masks = masksBelow(name, columns);
    return {
      name,
      sourceName: leaf.path.join("."),
      pointer: pathPointer(leaf.path),
      structure: leaf.structure,
      inside: pathsInside(name, leaf.structure, naming),
      maskJson: (sql: string) => maskJsonSql(sql, leaf.structure, masks, MASK_SALT_SQL, naming),
    };
  });
  if (nested.mode !== "tables") return { leaves };
  return {
    leaves,
    rowId: {
      column: { name: ROW_ID_COLUMN, sourceName: ROW_ID_COLUMN, type: "VARCHAR", declared: false },
      cast: {
        name: ROW_ID_COLUMN,
        valueSql: "gen_random_uuid()::VARCHAR",
        type: "VARCHAR",
        config: undefined,
        cast: false,
      },
    },
  };
}
