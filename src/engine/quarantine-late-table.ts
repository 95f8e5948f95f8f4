import { closeSync, fstatSync, openSync, readSync } from "node:fs";
import type { DuckDBConnection } from "@duckdb/node-api";
import { lateTableAt, type SampleDialect } from "../plan/detect-csv-layout.js";
import { quoteIdent, quoteLiteral } from "../plan/sql-text.js";
import { queryRows } from "./duckdb-query.js";
import { SECOND_TABLE_RULE, secondTableReason, TRAILING_SQL } from "./trailing-blocks.js";

/** Bytes of a file's end read to find its last non-blank line. */
const TAIL_BYTES = 64 * 1024;

/**
 * A second table that the sample did not show (it starts past the first 64 KB, or after no blank line):
 * found in what the read already rejected, not by reading the file again. The lines that close the file
 * and that the reader rejected for their width (consecutive, up to the file's last non-blank line) are
 * looked at; when they hold a header of another width over rows of that width, every one from that
 * header (or its title line) on becomes a `second_table` line of the malformed table, as in the sample's
 * case. Costs a clean file one query over its (empty) malformed rows; a file ending in such rejects one
 * read of its last 64 KB.
 *
 * @example
 * const late = await quarantineLateTable(con, { path, malformedTable, encoding: "utf8" }, dialect, 4);
 * // { line: 90412, lines: 2000 }
 */
export async function quarantineLateTable(
  con: DuckDBConnection,
  read: { readonly path: string; readonly malformedTable: string; readonly encoding: BufferEncoding },
  dialect: SampleDialect,
  columns: number,
): Promise<{ line: number; lines: number } | undefined> {
  const table = quoteIdent(read.malformedTable);
  const width = `error_type LIKE '%COLUMNS%' AND NOT ${TRAILING_SQL}`;
  // The last run of consecutive lines rejected for their width (a gaps-and-islands query).
  const [island] = await queryRows(
    con,
    `WITH w AS (SELECT line, line - row_number() OVER (ORDER BY line) AS run FROM ${table} WHERE ${width} AND line IS NOT NULL)
     SELECT min(line) AS first, max(line) AS last FROM w WHERE run = (SELECT run FROM w ORDER BY line DESC LIMIT 1)`,
  );
  if (island?.first === null || island?.first === undefined) return undefined;
  const first = Number(island.first);
  const last = Number(island.last);
  // Nothing after the run but blank lines: it closes the file (no row of the table is loaded after it).
  const [end] = await queryRows(con, `SELECT raw FROM ${table} WHERE line = ${last} AND ${width}`);
  if (typeof end?.raw !== "string" || lastLineOf(read.path, read.encoding) !== end.raw.trim())
    return undefined;
  // The reader's text of a line after a blank one starts with that line break.
  const text = "ltrim(raw, chr(10) || chr(13))";
  const head = await queryRows(
    con,
    `SELECT ${text} AS raw FROM ${table} WHERE ${width} AND line BETWEEN ${first} AND ${first + 27} ORDER BY line`,
  );
  const at = lateTableAt(
    head.map((r) => String(r.raw ?? "")),
    dialect,
    columns,
  );
  if (at === undefined) return undefined;
  const line = first + at;
  await con.run(
    `UPDATE ${table} SET error_type = ${quoteLiteral(SECOND_TABLE_RULE)}, message = ${quoteLiteral(secondTableReason(line))}, raw = ${text}
     WHERE line >= ${line} AND ${width}`,
  );
  const [counted] = await queryRows(
    con,
    `SELECT count(*) AS n FROM ${table} WHERE error_type = ${quoteLiteral(SECOND_TABLE_RULE)}`,
  );
  return { line, lines: Number(counted?.n ?? 0) };
}

/** The last non-blank line of a file (trimmed), from its last {@link TAIL_BYTES}; undefined if none. */
function lastLineOf(path: string, encoding: BufferEncoding): string | undefined {
  const fd = openSync(path, "r");
  try {
    const size = fstatSync(fd).size;
    const from = Math.max(0, size - TAIL_BYTES);
    const buffer = Buffer.allocUnsafe(size - from);
    const length = readSync(fd, buffer, 0, buffer.length, from);
    const lines = buffer
      .subarray(0, length)
      .toString(encoding)
      .split(/\r\n|\r|\n/);
    // The first piece of a tail that starts inside a line is no whole line.
    const whole = from > 0 ? lines.slice(1) : lines;
    for (let i = whole.length - 1; i >= 0; i--) {
      const text = whole[i]!.trim();
      if (text !== "") return text;
    }
    return undefined;
  } finally {
    closeSync(fd);
  }
}
