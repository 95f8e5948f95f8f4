import type { DuckDBConnection, DuckDBResultReader } from "@duckdb/node-api";
import { type ColumnInfo, isIntegerType, quoteLiteral } from "../plan/sql-text.js";

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

/**
 * The columns of a relation (a quoted table or view name, or a query) as DuckDB describes them.
 *
 * @example
 * await describeColumns(con, '"stage"') // [{ name: "id", type: "BIGINT" }, ...]
 */
export async function describeColumns(con: DuckDBConnection, relation: string): Promise<ColumnInfo[]> {
  return (await queryRows(con, `DESCRIBE ${relation}`)).map((r) => ({
    name: String(r.column_name),
    type: String(r.column_type),
  }));
}

/** First column of the first row, or undefined. */
export async function queryValue(con: DuckDBConnection, sql: string): Promise<unknown> {
  const rows = await queryRows(con, sql);
  const first = rows[0];
  return first === undefined ? undefined : Object.values(first)[0];
}

/**
 * Why DuckDB's parser refuses `sql` (`json_serialize_sql`: parsed only, never bound or run; it accepts
 * SELECT-like statements alone), or null when it parses.
 *
 * @example
 * await parseProblem(con, "SELECT 1 +") // "Parser Error: syntax error at end of input"
 */
export async function parseProblem(con: DuckDBConnection, sql: string): Promise<string | null> {
  const parsed = JSON.parse(
    String(await queryValue(con, `SELECT json_serialize_sql(${quoteLiteral(sql)})`)),
  ) as {
    error?: boolean;
    error_message?: string;
  };
  return parsed.error ? (parsed.error_message ?? "does not parse") : null;
}

/** A numeric result (DuckDB returns BIGINT as a string in JSON form). */
export async function queryNumber(con: DuckDBConnection, sql: string): Promise<number> {
  const value = await queryValue(con, sql);
  return value === null || value === undefined ? 0 : Number(value);
}

/**
 * Rows of a result for JSON output: 64-bit integers and narrow decimals become JSON numbers when that is
 * exact (DuckDB's JSON form keeps them as strings); wider values stay strings so no digit is lost.
 *
 * @example
 * const reader = await con.runAndReadAll("SELECT 1::BIGINT AS n"); jsonRows(reader) // [{ n: 1 }]
 */
export function jsonRows(reader: DuckDBResultReader): JsonRow[] {
  return exactNumbers(reader.getRowObjectsJson() as JsonRow[], numericColumns(reader));
}

/** A part of a query's result: its column names and the next rows (possibly none). */
export interface QueryBatch {
  readonly columns: readonly string[];
  readonly rows: readonly JsonRow[];
}

/**
 * Runs a query and yields its rows chunk by chunk (DuckDB's streaming result), numbers as in
 * {@link jsonRows}: memory holds one chunk, whatever the result's size. Always yields at least one
 * batch, so an empty result still names its columns.
 *
 * @example
 * for await (const { rows } of streamJsonRows(con, "SELECT * FROM orders")) write(rows);
 */
export async function* streamJsonRows(con: DuckDBConnection, sql: string): AsyncGenerator<QueryBatch> {
  const result = await con.stream(sql);
  const columns = result.columnNames();
  const numeric = numericColumns(result);
  let yielded = false;
  for await (const rows of result.yieldRowObjectJson()) {
    yielded = true;
    yield { columns, rows: exactNumbers(rows as JsonRow[], numeric) };
  }
  if (!yielded) yield { columns, rows: [] };
}

/** Columns whose JSON form is a string DuckDB could give as an exact number: integers, narrow decimals. */
function numericColumns(result: {
  columnNames(): string[];
  columnTypes(): readonly { toString(): string }[];
}): string[] {
  const types = result.columnTypes();
  return result.columnNames().filter((_, i) => {
    const text = types[i]!.toString().toUpperCase();
    if (isIntegerType(text)) return true;
    const decimal = /^DECIMAL\((\d+),\s*\d+\)$/.exec(text);
    return decimal !== null && Number(decimal[1]) <= 15;
  });
}

function exactNumbers(rows: JsonRow[], numeric: readonly string[]): JsonRow[] {
  if (numeric.length === 0) return rows;
  for (const row of rows) {
    for (const name of numeric) {
      const value = row[name];
      if (typeof value === "string") {
        const n = Number(value);
        if (Number.isFinite(n) && (!/^-?\d+$/.test(value) || Number.isSafeInteger(n))) row[name] = n;
      }
    }
  }
  return rows;
}

/**
 * Runs `work` with `preserve_insertion_order` off on this connection, then resets it: DuckDB's parallel
 * readers and writers then hand rows on as each thread finishes, where an order-keeping statement funnels
 * them through one. Only for rows whose order nobody reads back.
 *
 * @example
 * await withoutInsertionOrder(con, () => con.run("INSERT INTO t SELECT * FROM read_csv('a.csv')"));
 */
export async function withoutInsertionOrder<T>(con: DuckDBConnection, work: () => Promise<T>): Promise<T> {
  await con.run("SET preserve_insertion_order = false");
  try {
    return await work();
  } finally {
    await con.run("RESET preserve_insertion_order").catch(() => undefined);
  }
}
