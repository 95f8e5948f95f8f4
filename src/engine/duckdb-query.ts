import type { DuckDBConnection } from "@duckdb/node-api";

/** A JSON-safe row as DuckDB returns it (`getRowObjectsJson`): bigints and dates as strings. */
export type JsonRow = Record<string, unknown>;

/**
 * Runs a query and returns its rows as JSON-safe objects.
 *
 * @example
 * const rows = await queryRows(con, "SELECT 1 AS one"); // [{ one: 1 }]
 */
export async function queryRows(con: DuckDBConnection, sql: string): Promise<JsonRow[]> {
  const reader = await con.runAndReadAll(sql);
  return reader.getRowObjectsJson() as JsonRow[];
}

/** First column of the first row, or undefined. */
export async function queryValue(con: DuckDBConnection, sql: string): Promise<unknown> {
  const rows = await queryRows(con, sql);
  const first = rows[0];
  return first === undefined ? undefined : Object.values(first)[0];
}

/** A numeric result (DuckDB returns BIGINT as a string in JSON form). */
export async function queryNumber(con: DuckDBConnection, sql: string): Promise<number> {
  const value = await queryValue(con, sql);
  return value === null || value === undefined ? 0 : Number(value);
}
