import { quoteLiteral, quoteQualified } from "../plan/sql-text.js";
import type { CatalogReader } from "../warehouse/warehouse.js";

/** A warehouse table's size right after a run that loaded it. */
export interface TableSize {
  readonly rows: number;
  /**
   * Bytes on disk: PostgreSQL's `pg_total_relation_size` (indexes and TOAST included); DuckDB's blocks
   * holding the table's columns in the database file (null while its rows are only in the write-ahead log).
   */
  readonly bytes: number | null;
}

/** One point of a table's size over time: the run that loaded it and the size after. */
export interface TableSizePoint extends TableSize {
  readonly run_id: string;
  readonly pipeline: string;
  readonly loaded_at: string;
}

/**
 * Measures a table now: an exact row count and its bytes (see {@link TableSize}).
 *
 * @example
 * const { rows, bytes } = await measureTableSize(warehouse, "analytics.orders");
 */
export async function measureTableSize(warehouse: CatalogReader, table: string): Promise<TableSize> {
  const qualified = warehouse.kind === "postgres" && !table.includes(".") ? `public.${table}` : table;
  const [count] = await warehouse.query(`SELECT count(*) AS n FROM ${quoteQualified(qualified)}`);
  const [size] = await warehouse.query(
    warehouse.kind === "postgres"
      ? `SELECT pg_total_relation_size(to_regclass(${quoteLiteral(quoteQualified(qualified))})) AS bytes`
      : `SELECT CASE WHEN bool_and(persistent) THEN count(DISTINCT block_id) * (SELECT max(block_size) FROM pragma_database_size()) END AS bytes
           FROM pragma_storage_info(${quoteLiteral(table)})`,
  );
  return {
    rows: Number(count?.n ?? 0),
    bytes: size?.bytes === null || size?.bytes === undefined ? null : Number(size.bytes),
  };
}

/**
 * A table's size after each run that loaded it, oldest first: the `table_size` its runs recorded (runs
 * from before sizes were recorded, and rollbacks, have none and are left out).
 *
 * @example
 * const points = await tableSizeSeries(warehouse, "orders");
 */
export async function tableSizeSeries(warehouse: CatalogReader, table: string): Promise<TableSizePoint[]> {
  const rows = await warehouse.query(
    `SELECT l.run_id, l.pipeline, CAST(l.loaded_at AS VARCHAR) AS loaded_at, CAST(r.report -> 'table_size' AS VARCHAR) AS size
       FROM sluice.loads l JOIN sluice.runs r ON r.run_id = l.run_id
      WHERE l.table_name = ${quoteLiteral(table)} AND l.mode <> 'rollback' ORDER BY l.seq`,
  );
  return rows.flatMap((r) => {
    const size = parseSize(r.size);
    return size
      ? [{ run_id: String(r.run_id), pipeline: String(r.pipeline), loaded_at: String(r.loaded_at), ...size }]
      : [];
  });
}

function parseSize(text: unknown): TableSize | undefined {
  if (typeof text !== "string" || text === "" || text === "null") return undefined;
  try {
    const size = JSON.parse(text) as { rows?: unknown; bytes?: unknown };
    if (typeof size.rows !== "number") return undefined;
    return { rows: size.rows, bytes: typeof size.bytes === "number" ? size.bytes : null };
  } catch {
    return undefined;
  }
}
