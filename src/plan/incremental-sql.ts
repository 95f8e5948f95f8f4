import { quoteIdent, quoteLiteral } from "./sql-text.js";
import { canonicalType } from "./type-evolution.js";

/**
 * The row filter of `incremental: { cursor, lag }`: only rows whose cursor is newer than the stored
 * high-water mark minus the lag (lag applies to date and time cursors). Undefined before the first
 * load (everything is new). DuckDB SQL over the staged file. Pure.
 *
 * @example
 * incrementalFilter("updated_at", "TIMESTAMP", "2026-01-01 00:00:00", 3_600_000)
 * // "updated_at" > CAST('2026-01-01 00:00:00' AS TIMESTAMP) - INTERVAL (3600000) MILLISECOND
 */
export function incrementalFilter(
  cursor: string,
  type: string,
  mark: string | null,
  lagMs: number,
): string | undefined {
  if (mark === null) return undefined;
  const family = canonicalType(type).family;
  if (lagMs > 0 && family === "string") {
    // Text cursors holding timestamps: the lag needs time arithmetic.
    return `TRY_CAST(${quoteIdent(cursor)} AS TIMESTAMP) > CAST(${quoteLiteral(mark)} AS TIMESTAMP) - INTERVAL (${Math.round(lagMs)}) MILLISECOND`;
  }
  const temporal = family === "date" || family === "timestamp" || family === "timestamptz";
  const castType = family === "date" && lagMs > 0 ? "TIMESTAMP" : type;
  const bound = `CAST(${quoteLiteral(mark)} AS ${castType})`;
  const lag = temporal && lagMs > 0 ? ` - INTERVAL (${Math.round(lagMs)}) MILLISECOND` : "";
  return `${quoteIdent(cursor)} > ${bound}${lag}`;
}

/**
 * The new high-water mark after a batch: the greatest cursor value loaded (never lower than the old
 * mark), as text. Pure.
 *
 * @example
 * watermarkSql("(SELECT ...)", "updated_at", "TIMESTAMP", null)
 */
export function watermarkSql(rowsSql: string, cursor: string, type: string, mark: string | null): string {
  const max = `max(${quoteIdent(cursor)})`;
  const value = mark === null ? max : `greatest(${max}, CAST(${quoteLiteral(mark)} AS ${type}))`;
  return `SELECT CAST(${value} AS VARCHAR) AS mark FROM (${rowsSql})`;
}

/**
 * A warehouse source's incremental read, in the dialect-neutral part both engines share: the new rows
 * (`cursorColumn` above `lower`, an expression in the engine's own spelling) and, with late-data
 * partitions, every row of a partition a recent new row touched (`recent`: the engine's condition on the
 * first partition column), plus the new rows of partitions older than the window. Pure.
 *
 * @example
 * lateDataFilterSql('"orders"', "id", "'41'", [], undefined) // { sql: `SELECT * FROM "orders" WHERE "id" > '41'` }
 */
export function lateDataFilterSql(
  base: string,
  cursorColumn: string,
  lower: string,
  partitionBy: readonly string[],
  recent: (() => string) | undefined,
): { sql: string; outsideWindowSql?: string } {
  const newRows = `SELECT * FROM ${base} WHERE ${quoteIdent(cursorColumn)} > ${lower}`;
  if (partitionBy.length === 0 || recent === undefined) return { sql: newRows };
  const keys = partitionBy.map(quoteIdent).join(", ");
  const inWindow = recent();
  return {
    sql: `SELECT * FROM ${base} WHERE (${keys}) IN (SELECT DISTINCT ${keys} FROM (${newRows}) AS n WHERE ${inWindow})`,
    outsideWindowSql: `SELECT * FROM (${newRows}) AS n WHERE NOT ${inWindow}`,
  };
}
