import type { DuckDBConnection } from "@duckdb/node-api";
import type { NestedConfig, TargetConfig } from "../config/schema.js";
import {
  flattenStructure,
  isObjectStructure,
  NESTED_SEPARATOR,
  pathPointer,
  ROW_ID_COLUMN,
} from "../plan/nested-json.js";
import { jsonStructureType } from "../plan/read-sql.js";
import { quoteIdent, quoteLiteral } from "../plan/sql-text.js";
import { describeColumns, queryRows } from "./duckdb-query.js";

/** A child table of `nested: tables`: its rows in an engine table, and where they go. */
export interface ChildTable {
  /** The warehouse table (`orders__items`). */
  readonly table: string;
  /** Engine temp table holding its rows (columns of deeper child tables included). */
  readonly engineTable: string;
  /** Columns of {@link engineTable} that hold the arrays of deeper child tables (not written). */
  readonly nestedColumns: readonly string[];
}

/** The run's rows split into the parent's rows and its child tables (parents first). */
export interface NestedSplit {
  readonly rowsSql: string;
  readonly children: readonly ChildTable[];
}

/** The columns linking a child row to its parent (see docs/nested-json.md). */
const LINK_COLUMNS = ["_sluice_parent_id", "_sluice_root_id", "_sluice_list_idx"] as const;
const METADATA = ["_sluice_run_id", "_sluice_source_file", "_sluice_loaded_at"] as const;

/**
 * `nested: tables`: each JSON column of the run's rows whose values are arrays (at most `max_depth`
 * keys deep) becomes a child table `<target>__<column>`, one row per element, linked to its parent row
 * by `_sluice_parent_id` (and to the top-level row by `_sluice_root_id`), in array order
 * (`_sluice_list_idx`, from 0). Elements that are objects are flattened like the parent; arrays inside
 * them become child tables in turn. All in DuckDB (`unnest`), one statement per child table. Under
 * `merge` a parent row's key is derived from its target keys, so a merged parent keeps it and its
 * children can be replaced. The returned `rowsSql` is the parent's rows without the split columns.
 *
 * @example
 * const split = await splitNestedTables(engine, rowsSql, target, { mode: "tables", max_depth: 5 }, "snake_case");
 */
export async function splitNestedTables(
  engine: DuckDBConnection,
  rowsSql: string,
  target: TargetConfig & { readonly table: string },
  nested: NestedConfig,
  naming: "snake_case" | "keep",
  prefix = "sluice_child",
): Promise<NestedSplit> {
  const keys = target.keys ?? [];
  const parentSql =
    target.mode === "merge" && keys.length > 0
      ? `SELECT * REPLACE (md5(to_json([${keys.map((k) => `${quoteIdent(k)}::VARCHAR`).join(", ")}])::VARCHAR) AS ${ROW_ID_COLUMN}) FROM (${rowsSql})`
      : rowsSql;
  const columns = await describeColumns(engine, `(${parentSql})`);
  if (!columns.some((c) => c.name === ROW_ID_COLUMN)) return { rowsSql, children: [] };
  const jsonColumns = columns.filter((c) => c.type === "JSON" && !c.name.startsWith("_sluice_"));
  const arrays = await arrayColumns(
    engine,
    `(${parentSql})`,
    jsonColumns.map((c) => c.name),
    nested.max_depth,
    0,
  );
  const children: ChildTable[] = [];
  const split = async (
    relation: string,
    root: boolean,
    column: string,
    element: unknown,
    table: string,
    depth: number,
  ) => {
    const engineTable = `${prefix}_${children.length}`;
    const child = childSql(relation, root, column, element, nested.max_depth - depth, naming);
    await engine.run(`CREATE OR REPLACE TEMP TABLE ${quoteIdent(engineTable)} AS ${child.sql}`);
    const deeper = child.arrays.filter((a) => depth + a.depth < nested.max_depth);
    children.push({ table, engineTable, nestedColumns: deeper.map((a) => a.name) });
    for (const a of deeper) {
      await split(
        quoteIdent(engineTable),
        false,
        a.name,
        a.element,
        `${table}${NESTED_SEPARATOR}${a.name}`,
        depth + a.depth,
      );
    }
  };
  for (const a of arrays) {
    await split(
      `(${parentSql})`,
      true,
      a.name,
      a.element,
      `${target.table}${NESTED_SEPARATOR}${a.name}`,
      a.depth,
    );
  }
  if (arrays.length === 0) return { rowsSql: parentSql, children };
  return {
    rowsSql: `SELECT * EXCLUDE (${arrays.map((a) => quoteIdent(a.name)).join(", ")}) FROM (${parentSql})`,
    children,
  };
}

/** An array column: its name, the structure of its elements, and how many keys deep it is. */
interface ArrayColumn {
  readonly name: string;
  readonly element: unknown;
  readonly depth: number;
}

/** The JSON columns of `relation` whose values are arrays (`json_group_structure` over all rows). */
async function arrayColumns(
  engine: DuckDBConnection,
  relation: string,
  names: readonly string[],
  maxDepth: number,
  base: number,
): Promise<ArrayColumn[]> {
  if (names.length === 0) return [];
  const [row] = await queryRows(
    engine,
    `SELECT ${names.map((n, i) => `json_group_structure(${quoteIdent(n)})::VARCHAR AS s${i}`).join(", ")} FROM ${relation}`,
  );
  return names.flatMap((name, i) => {
    const text = row?.[`s${i}`];
    const structure = typeof text === "string" ? (JSON.parse(text) as unknown) : undefined;
    // A flattened name has one segment per key: that many keys deep.
    const depth = base + name.split(NESTED_SEPARATOR).length;
    return Array.isArray(structure) && depth < maxDepth ? [{ name, element: structure[0], depth }] : [];
  });
}

/**
 * The SELECT of one child table: a row per element of `column`'s arrays in `relation`, its generated
 * key derived from the parent's and its position (stable across reads), the links, the element's
 * values (object keys flattened up to `depthLeft` keys; a scalar element is `value`), and the parent's
 * metadata columns.
 */
function childSql(
  relation: string,
  root: boolean,
  column: string,
  element: unknown,
  depthLeft: number,
  naming: "snake_case" | "keep",
): { sql: string; arrays: ArrayColumn[] } {
  const leaves = isObjectStructure(element)
    ? flattenStructure(element, Math.max(depthLeft, 1), naming)
    : [{ path: [] as string[], name: "value", structure: element }];
  const values = leaves.map((leaf) => {
    const at = leaf.path.length === 0 ? "_e" : `json_extract(_e, ${quoteLiteral(pathPointer(leaf.path))})`;
    const type = jsonStructureType(leaf.structure);
    const text =
      leaf.path.length === 0
        ? "json_extract_string(_e, '$')"
        : `json_extract_string(_e, ${quoteLiteral(pathPointer(leaf.path))})`;
    // CAST, not TRY_CAST: the type was read from these very values, and a value that still does not fit
    // (a number past BIGINT) fails the run rather than vanish.
    const value = type === "JSON" ? at : type === "VARCHAR" ? text : `CAST(${text} AS ${type})`;
    return `${value} AS ${quoteIdent(leaf.name)}`;
  });
  const arrays = leaves
    .filter((leaf) => Array.isArray(leaf.structure) && leaf.path.length > 0)
    .map((leaf) => ({ name: leaf.name, element: (leaf.structure as unknown[])[0], depth: leaf.path.length }));
  const sql = `SELECT md5(_p || ${quoteLiteral(`/${column}/`)} || _i::VARCHAR) AS ${ROW_ID_COLUMN},
      _p AS ${LINK_COLUMNS[0]}, _r AS ${LINK_COLUMNS[1]}, _i AS ${LINK_COLUMNS[2]}, ${values.join(", ")},
      ${METADATA.join(", ")}
    FROM (SELECT p.${ROW_ID_COLUMN} AS _p, p.${root ? ROW_ID_COLUMN : LINK_COLUMNS[1]} AS _r, ${METADATA.map((m) => `p.${m}`).join(", ")},
                 unnest(p._a) AS _e, generate_subscripts(p._a, 1)::BIGINT - 1 AS _i
          FROM (SELECT *, CAST(${quoteIdent(column)} AS JSON[]) AS _a FROM ${relation}) AS p
          WHERE len(p._a) > 0)`;
  return { sql, arrays };
}
