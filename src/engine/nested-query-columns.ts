import type { DuckDBConnection } from "@duckdb/node-api";
import type { ColumnConfig, NestedConfig } from "../config/schema.js";
import { normalizeColumnNames } from "../plan/column-names.js";
import { MASK_SALT_SQL } from "../plan/masking.js";
import {
  flattenStructure,
  isObjectStructure,
  maskJsonSql,
  masksBelow,
  NESTED_SEPARATOR,
  pathPointer,
  pathsInside,
  ROW_ID_COLUMN,
} from "../plan/nested-json.js";
import { jsonStructureType, type StagedColumn } from "../plan/read-sql.js";
import { quoteIdent, quoteLiteral } from "../plan/sql-text.js";
import { describeColumns, queryRows } from "./duckdb-query.js";

/** How `flattenStagedJson` reads the pipeline. */
export interface NestedQueryRequest {
  readonly nested: NestedConfig;
  readonly columns: Readonly<Record<string, ColumnConfig>>;
  readonly naming: "snake_case" | "keep";
}

/**
 * `nested: flatten | tables` for a staged query result (a database source's JSON / JSONB columns): each
 * JSON column whose values are objects is flattened to `column__key` columns up to `max_depth` keys, the
 * column itself being the first key, exactly as a JSON file's nested objects are; masks declared on
 * paths inside the JSON columns left (`items.discounts.code`) are applied inside their values; `tables`
 * adds the generated row key {@link ROW_ID_COLUMN} that child tables point back to. The structure is read
 * once (`json_group_structure`); the rows are rewritten by one statement and never leave the engine.
 * Returns the staged columns (other than Sluice's) as they now are.
 *
 * @example
 * await flattenStagedJson(con, "sluice_q0_stage", { nested: { mode: "flatten", max_depth: 5 }, columns: {}, naming: "snake_case" });
 */
export async function flattenStagedJson(
  con: DuckDBConnection,
  table: string,
  request: NestedQueryRequest,
): Promise<StagedColumn[]> {
  const { nested, naming } = request;
  const all = await describeColumns(con, quoteIdent(table));
  const json = all.filter((c) => c.type === "JSON" && !c.name.startsWith("_sluice_"));
  const structures = await jsonStructures(
    con,
    table,
    json.map((c) => c.name),
  );
  const parts: { name: string; sql: string; type: string; inside?: string[] }[] = [];
  for (const column of all) {
    if (column.name.startsWith("_sluice_")) continue;
    const quoted = quoteIdent(column.name);
    if (column.type !== "JSON") {
      parts.push({ name: column.name, sql: quoted, type: column.type });
      continue;
    }
    const structure = structures.get(column.name);
    // The column is the first key of every path below it.
    const leaves =
      isObjectStructure(structure) && nested.max_depth > 1
        ? flattenStructure(structure, nested.max_depth - 1, naming).map((l) => ({
            ...l,
            name: `${column.name}${NESTED_SEPARATOR}${l.name}`,
          }))
        : [{ path: [] as string[], name: column.name, structure }];
    for (const leaf of leaves) {
      const type = jsonStructureType(leaf.structure);
      const pointer = quoteLiteral(pathPointer(leaf.path));
      const at = leaf.path.length === 0 ? quoted : `json_extract(${quoted}, ${pointer})`;
      const text = `json_extract_string(${quoted}, ${pointer})`;
      // A column of JSON values that are not objects everywhere stays one JSON column.
      if (type === "JSON" || leaf.path.length === 0) {
        const masks = masksBelow(leaf.name, request.columns);
        parts.push({
          name: leaf.name,
          sql: maskJsonSql(at, leaf.structure, masks, MASK_SALT_SQL, naming),
          type: "JSON",
          inside: pathsInside(leaf.name, leaf.structure, naming),
        });
      } else {
        // CAST, not TRY_CAST: the type was read from these very values; one that still does not fit
        // fails the run rather than vanish.
        parts.push({ name: leaf.name, sql: type === "VARCHAR" ? text : `CAST(${text} AS ${type})`, type });
      }
    }
  }
  const names = normalizeColumnNames(
    parts.map((p) => p.name),
    "keep",
  );
  const select = parts.map((p, i) => `${p.sql} AS ${quoteIdent(names[i]!)}`);
  if (nested.mode === "tables") select.push(`gen_random_uuid()::VARCHAR AS ${ROW_ID_COLUMN}`);
  const kept = all.filter((c) => c.name.startsWith("_sluice_")).map((c) => quoteIdent(c.name));
  const flat = `${table}_flat`;
  await con.run(
    `CREATE OR REPLACE TEMP TABLE ${quoteIdent(flat)} AS SELECT ${[...select, ...kept].join(", ")} FROM ${quoteIdent(table)}`,
  );
  await con.run(`DROP TABLE ${quoteIdent(table)}`);
  await con.run(`ALTER TABLE ${quoteIdent(flat)} RENAME TO ${quoteIdent(table)}`);
  const columns: StagedColumn[] = parts.map((p, i) => ({
    name: names[i]!,
    sourceName: p.name.split(NESTED_SEPARATOR).join("."),
    type: p.type,
    declared: false,
    ...(p.inside ? { inside: p.inside } : {}),
  }));
  if (nested.mode === "tables") {
    columns.push({ name: ROW_ID_COLUMN, sourceName: ROW_ID_COLUMN, type: "VARCHAR", declared: false });
  }
  return columns;
}

/** The `json_group_structure` of each named JSON column over all rows (undefined for all-NULL columns). */
async function jsonStructures(
  con: DuckDBConnection,
  table: string,
  names: readonly string[],
): Promise<Map<string, unknown>> {
  if (names.length === 0) return new Map();
  const [row] = await queryRows(
    con,
    `SELECT ${names.map((n, i) => `json_group_structure(${quoteIdent(n)})::VARCHAR AS s${i}`).join(", ")} FROM ${quoteIdent(table)}`,
  );
  return new Map(
    names.map((n, i) => {
      const text = row?.[`s${i}`];
      return [n, typeof text === "string" ? (JSON.parse(text) as unknown) : undefined];
    }),
  );
}
