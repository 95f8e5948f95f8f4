import { quoteLiteral } from "../plan/sql-text.js";
import { quotedTableName, splitTableName } from "../warehouse/split-table-name.js";
import type { CatalogReader, Warehouse } from "../warehouse/warehouse.js";
import { isoTime } from "./quality.js";

/** A warehouse table's size right after a run that loaded it. */
export interface TableSize {
  /** Exact, unless `estimated` (a large PostgreSQL table: its planner's estimate, see below). */
  readonly rows: number;
  /**
   * Bytes on disk: PostgreSQL's `pg_total_relation_size` (indexes and TOAST included); DuckDB's blocks
   * holding the table's columns in the database file (null while its rows are only in the write-ahead log).
   */
  readonly bytes: number | null;
  readonly estimated?: boolean;
}

/** One point of a table's size over time: the run that loaded it and the size after. */
export interface TableSizePoint extends TableSize {
  readonly run_id: string;
  readonly pipeline: string;
  /** ISO-8601, UTC. */
  readonly loaded_at: string;
}

/** Above this planner estimate the estimate is recorded instead of counting every row after each run. */
export const EXACT_COUNT_LIMIT = 5_000_000;

/**
 * Measures a table now from metadata (bytes, the planner's row estimate); rows are counted exactly unless
 * the estimate says the table holds more than {@link EXACT_COUNT_LIMIT} rows, so a run into a big table
 * does not pay a full scan for a chart.
 *
 * @example
 * const { rows, bytes } = await measureTableSize(warehouse, "analytics.orders");
 */
export async function measureTableSize(
  warehouse: Pick<Warehouse, "dialect" | "query">,
  table: string,
  exactCountLimit = EXACT_COUNT_LIMIT,
): Promise<TableSize> {
  const { schema, name } = splitTableName(table, warehouse.dialect);
  const [meta] = await warehouse.query(warehouse.dialect.tableSizeSql(schema, name));
  const bytes = meta?.bytes === null || meta?.bytes === undefined ? null : Number(meta.bytes);
  const estimate = meta?.estimate === null || meta?.estimate === undefined ? null : Number(meta.estimate);
  if (estimate !== null && estimate > exactCountLimit) return { rows: estimate, bytes, estimated: true };
  const [count] = await warehouse.query(
    `SELECT count(*) AS n FROM ${quotedTableName(table, warehouse.dialect)}`,
  );
  return { rows: Number(count?.n ?? 0), bytes };
}

/**
 * A table's size after each of its last `limit` loads, oldest first: the `table_size` their runs
 * recorded (runs from before sizes were recorded, and rollbacks, have none and are left out).
 *
 * @example
 * const points = await tableSizeSeries(warehouse, "orders", 500);
 */
export async function tableSizeSeries(
  warehouse: CatalogReader,
  table: string,
  limit = 500,
): Promise<TableSizePoint[]> {
  // One statement: the loads by the load history's order, then each one's run by its key (a list of 500
  // run ids in an IN (...) costs DuckDB ~15x the join).
  const rows = await warehouse.query(
    `SELECT l.run_id, l.pipeline, CAST(l.loaded_at AS VARCHAR) AS loaded_at, CAST(r.report -> 'table_size' AS VARCHAR) AS size
       FROM (SELECT seq, run_id, pipeline, loaded_at FROM sluice.loads
              WHERE table_name = ${quoteLiteral(table)} AND mode <> 'rollback' ORDER BY seq DESC LIMIT ${Math.max(1, Math.trunc(limit))}) l
       JOIN sluice.runs r ON r.run_id = l.run_id
      ORDER BY l.seq`,
  );
  return rows.flatMap((l) => {
    const size = parseSize(l.size);
    return size
      ? [{ run_id: String(l.run_id), pipeline: String(l.pipeline), loaded_at: isoTime(l.loaded_at), ...size }]
      : [];
  });
}

function parseSize(text: unknown): TableSize | undefined {
  if (typeof text !== "string" || text === "" || text === "null") return undefined;
  try {
    const size = JSON.parse(text) as { rows?: unknown; bytes?: unknown; estimated?: unknown };
    if (typeof size.rows !== "number") return undefined;
    return {
      rows: size.rows,
      bytes: typeof size.bytes === "number" ? size.bytes : null,
      ...(size.estimated === true ? { estimated: true } : {}),
    };
  } catch {
    return undefined;
  }
}
