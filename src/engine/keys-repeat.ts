import type { DuckDBConnection } from "@duckdb/node-api";
import { dedupeRepeatCounts, keyBitmapFits, keyBitmapSql, keyStatsSql } from "../plan/dedupe.js";
import { type ColumnInfo, quoteIdent } from "../plan/sql-text.js";
import { queryRows } from "./duckdb-query.js";

/**
 * Whether dedupe keys repeat among the rows of `table` (NULL keys equal, as in dedupe). A single integer
 * key is checked with a bitmap of its range (one bit per possible value; ~10x cheaper than a distinct
 * count) when the range is small enough; other keys with a distinct count.
 *
 * @example
 * await keysRepeat(con, "batch", ["order_id"], [{ name: "order_id", type: "BIGINT" }]) // => false
 */
export async function keysRepeat(
  con: DuckDBConnection,
  table: string,
  keys: readonly string[],
  columns: readonly ColumnInfo[],
): Promise<boolean> {
  const source = quoteIdent(table);
  const [only, ...more] = keys;
  const type = columns.find((c) => c.name === only)?.type;
  if (only !== undefined && more.length === 0 && type !== undefined && keyBitmapFits(type)) {
    const stats = (await queryRows(con, keyStatsSql(source, only)))[0] ?? {};
    const rows = Number(stats.rows ?? 0);
    const nulls = Number(stats.nulls ?? 0);
    if (rows - nulls <= 1) return nulls > 1;
    const bitmap = keyBitmapSql(source, only, BigInt(String(stats.min)), BigInt(String(stats.max)));
    if (bitmap) {
      const distinct = Number((await queryRows(con, bitmap))[0]?.distinct_keys ?? 0);
      return distinct + Math.min(nulls, 1) < rows;
    }
  }
  const counts = dedupeRepeatCounts({ keys });
  return counts.repeats(
    (await queryRows(con, `SELECT ${counts.aggregates.join(", ")} FROM ${source}`))[0] ?? {},
  );
}
