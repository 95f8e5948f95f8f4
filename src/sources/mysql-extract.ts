import { createWriteStream } from "node:fs";
import { rm } from "node:fs/promises";
import { join } from "node:path";
import { Transform } from "node:stream";
import { pipeline } from "node:stream/promises";
import type { DuckDBConnection } from "@duckdb/node-api";
import mysql from "mysql2";
import { completeStagedQuery, type StagedQuery, sourceQueryText } from "../engine/stage-query.js";
import { SluiceError } from "../errors.js";
import {
  ambiguousNameProblem,
  asQueryRequest,
  type DatabaseStageRequest,
  stagesInPlace,
} from "./database-request.js";
import { type ExtractErrorKinds, extractError } from "./extract-error.js";
import { loadExtract } from "./load-extract.js";
import { parseMysqlUrl } from "./mysql-url.js";
import { type ExtractColumn, isTypeProblem, type MysqlField, mysqlExtractColumn } from "./type-map.js";

const mysqlIdent = (name: string): string => `\`${name.replaceAll("`", "``")}\``;
const mysqlQualified = (name: string): string => name.split(".").map(mysqlIdent).join(".");
const temporalTypes = new Set([7, 10, 12, 14]);

/**
 * Extracts a MySQL/MariaDB table or query into the engine as `<prefix>_stage`: within one
 * `START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY` (REPEATABLE READ, session at UTC) the result's
 * columns are read first (`LIMIT 0`) and mapped (a type Sluice cannot carry fails here, naming the
 * column, before any row moves); then the rows stream from the server (the connection pauses while the
 * file catches up, so memory stays flat) as text, written to a scratch CSV in large chunks that the
 * engine reads in bulk. The incremental filter runs on the source.
 *
 * @example
 * const staged = await extractMysql(engine, { source: { database: url, table: "orders" }, columns: {}, tablePrefix: "q0", workDir });
 */
export async function extractMysql(
  engine: DuckDBConnection,
  request: DatabaseStageRequest,
): Promise<StagedQuery> {
  const target = parseMysqlUrl(request.source.database);
  if ("problem" in target) throw new SluiceError("CONFIG_INVALID", `source.database: ${target.problem}`);
  const base =
    request.source.table !== undefined
      ? mysqlQualified(request.source.table)
      : `(${sourceQueryText(request.source.query!)}) AS q`;
  const file = join(request.workDir, `${request.tablePrefix}.csv`);
  const connection = mysql.createConnection({
    host: target.host,
    port: target.port,
    user: target.user,
    password: target.password,
    database: target.database,
    connectTimeout: 10_000,
    timezone: "Z",
  });
  connection.on("error", () => undefined);
  let inPlace = false;
  const run = (sql: string, values?: unknown[]) =>
    new Promise<{ rows: unknown; fields: MysqlField[] }>((resolve, reject) =>
      connection.query({ sql, values }, (error, rows, fields) =>
        error ? reject(error) : resolve({ rows, fields: (fields ?? []) as unknown as MysqlField[] }),
      ),
    );
  try {
    await run("SET time_zone = '+00:00'");
    await run("SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ");
    await run("START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY");
    const { fields } = await run(`SELECT * FROM ${base} LIMIT 0`);
    const columns = extractColumns(fields);
    const sql = incrementalSql(base, fields, request);
    const rows = await streamRows(connection, sql, fields, columns, file);
    await run("COMMIT");
    const table = `${request.tablePrefix}_stage`;
    inPlace = stagesInPlace(request, columns);
    const rowsTable = await loadExtract(engine, file, table, columns, target.label, inPlace);
    const staged = await completeStagedQuery(engine, asQueryRequest(request), {
      sql,
      lateRows: 0,
      rows: inPlace ? rows : undefined,
    });
    return inPlace ? { ...staged, readsFiles: true, rowsTable } : staged;
  } catch (error) {
    throw extractError(error, target.label, target.password, MYSQL_ERRORS);
  } finally {
    // A view reads the file until the publish: it goes with the run's folder.
    if (!inPlace) await rm(file, { force: true });
    connection.destroy();
  }
}

function extractColumns(fields: readonly MysqlField[]): ExtractColumn[] {
  const ambiguous = ambiguousNameProblem(fields.map((f) => f.name));
  if (ambiguous) throw new SluiceError("CONFIG_INVALID", `source: ${ambiguous}`);
  return fields.map((field) => {
    const column = mysqlExtractColumn(field);
    if (isTypeProblem(column)) throw new SluiceError("CONFIG_INVALID", `source: ${column.problem}`);
    return column;
  });
}

/** Only rows above the stored mark (minus `lag` for date and time cursors), in MySQL's spelling. */
function incrementalSql(base: string, fields: readonly MysqlField[], request: DatabaseStageRequest): string {
  const cursor = request.cursor;
  if (!cursor || cursor.after === null) return `SELECT * FROM ${base}`;
  const field = fields.find((f) => f.name === cursor.column);
  if (!field) {
    throw new SluiceError(
      "QUERY_FAILED",
      `incremental.cursor ${cursor.column}: the source has no such column (it has ${fields.map((f) => f.name).join(", ")})`,
    );
  }
  const escaped = `'${cursor.after.replaceAll("\\", "\\\\").replaceAll("'", "''")}'`;
  const temporal = temporalTypes.has(field.columnType ?? -1);
  // The mark is stored as the engine printed it; a TIMESTAMPTZ mark ends in `+00`, which MySQL rejects.
  const mark = temporal ? `CAST(${escaped.replace(/\+00'$/, "'")} AS DATETIME(6))` : escaped;
  const lower =
    temporal && cursor.overlapMs > 0
      ? `${mark} - INTERVAL ${Math.round(cursor.overlapMs * 1000)} MICROSECOND`
      : mark;
  return `SELECT * FROM ${base} WHERE ${mysqlIdent(cursor.column)} > ${lower}`;
}

/**
 * Streams the query's rows into `file` as CSV: every value as the server's text (binary values as hex,
 * BIT as its number), NULL unquoted and empty, every other value quoted. Lines are joined into ~1 MB
 * chunks before they are written. Returns how many rows it wrote.
 */
async function streamRows(
  connection: mysql.Connection,
  sql: string,
  fields: readonly MysqlField[],
  columns: readonly ExtractColumn[],
  file: string,
): Promise<number> {
  const hex = new Set(columns.filter((c) => c.engineType === "BLOB").map((c) => c.name));
  const bits = new Set(fields.filter((f) => f.columnType === 16).map((f) => f.name));
  const typeCast = (field: { name: string; string(): string | null; buffer(): Buffer | null }) => {
    if (hex.has(field.name)) return field.buffer()?.toString("hex") ?? null;
    if (bits.has(field.name)) {
      const bytes = field.buffer();
      return bytes === null ? null : BigInt(`0x${bytes.toString("hex") || "0"}`).toString();
    }
    return field.string();
  };
  let chunk: string[] = [];
  let lines = 0;
  let size = 0;
  const toCsv = new Transform({
    writableObjectMode: true,
    writableHighWaterMark: 1024,
    transform(row: (string | null)[], _encoding, done) {
      let line = "";
      for (let i = 0; i < row.length; i++) {
        const value = row[i];
        if (i > 0) line += ",";
        if (value !== null && value !== undefined) line += `"${value.replaceAll('"', '""')}"`;
      }
      chunk.push(line);
      lines++;
      size += line.length + 1;
      if (size >= 1 << 20) {
        this.push(`${chunk.join("\n")}\n`);
        chunk = [];
        size = 0;
      }
      done();
    },
    flush(done) {
      if (chunk.length > 0) this.push(`${chunk.join("\n")}\n`);
      done();
    },
  });
  const rows = connection
    .query({ sql, rowsAsArray: true, typeCast: typeCast as unknown as mysql.TypeCast })
    .stream({ highWaterMark: 1024 });
  await pipeline(rows, toCsv, createWriteStream(file, { highWaterMark: 1 << 20 }));
  return lines;
}

/** Server errors worth retrying: lost connections, restarts, deadlocks, lock waits, too many connections. */
const transientCodes = new Set([
  "PROTOCOL_CONNECTION_LOST",
  "ECONNRESET",
  "ECONNREFUSED",
  "ETIMEDOUT",
  "EPIPE",
  "ER_LOCK_DEADLOCK",
  "ER_LOCK_WAIT_TIMEOUT",
  "ER_CON_COUNT_ERROR",
  "ER_SERVER_SHUTDOWN",
  "ER_CONNECTION_KILLED",
  "ER_QUERY_INTERRUPTED",
]);

const MYSQL_ERRORS: ExtractErrorKinds = {
  denied: new Set(["ER_ACCESS_DENIED_ERROR", "ER_DBACCESS_DENIED_ERROR"]),
  transient: (_error, code, message) =>
    transientCodes.has(code) || /Connection lost|server has gone away/i.test(message),
};
