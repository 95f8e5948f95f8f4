import { createWriteStream } from "node:fs";
import { rm } from "node:fs/promises";
import { pipeline } from "node:stream/promises";
import type { DuckDBConnection } from "@duckdb/node-api";
import type { PoolClient } from "pg";
import { queryRows } from "../engine/duckdb-query.js";
import {
  completeStagedQuery,
  createMalformedTable,
  type QueryStageRequest,
  type StagedQuery,
  sourceQueryText,
} from "../engine/stage-query.js";
import { firstLine, SluiceError } from "../errors.js";
import { postgresSideEffectProblem } from "../plan/postgres-side-effects.js";
import { quoteIdent, quoteLiteral, quoteQualified } from "../plan/sql-text.js";
import { copyOut } from "./postgres-copy-out.js";
import { maxDecimalPrecision, postgresEngineType } from "./postgres-engine-type.js";
import { isTransientPgError } from "./postgres-errors.js";
import { type PostgresField, postgresIncrementalSql } from "./postgres-incremental-sql.js";
import { inPostgresTransaction } from "./postgres-transaction.js";

/** Where a PostgreSQL source is read from and staged to. */
export interface PostgresStageContext {
  readonly client: PoolClient;
  readonly engine: DuckDBConnection;
  /** Scratch CSV file for the result (removed afterwards). */
  readonly file: string;
  /** The server, for messages (`PostgreSQL user@host:port/db`). */
  readonly server: string;
}

/**
 * Stages a warehouse source of a PostgreSQL warehouse: the query (incremental filter included) runs on
 * the server in one read-only snapshot, its result streams out with `COPY (...) TO STDOUT (FORMAT csv)`
 * into a scratch file, and DuckDB reads that file into the stage table with the result's own types
 * (see {@link postgresEngineType}). NULL and the empty string stay apart (PostgreSQL quotes an empty
 * string, DuckDB is told a quoted empty field is not NULL). The staged result is shaped exactly like
 * the DuckDB warehouse's (`completeStagedQuery`).
 *
 * @example
 * const staged = await stagePostgresSource({ client, engine, file, server }, { source: { table: "orders" }, columns: {}, tablePrefix: "q0" });
 */
export async function stagePostgresSource(
  context: PostgresStageContext,
  request: QueryStageRequest,
): Promise<StagedQuery> {
  const read = await readOnServer(context, request);
  try {
    await createMalformedTable(context.engine, request.tablePrefix);
    await loadCsv(context, request, read.fields);
  } finally {
    await rm(context.file, { force: true });
  }
  return completeStagedQuery(context.engine, request, { sql: read.sql, lateRows: read.lateRows });
}

/** Runs the source query on the server into the scratch file; returns its columns and SQL. */
async function readOnServer(
  { client, file, server }: PostgresStageContext,
  request: QueryStageRequest,
): Promise<{ fields: readonly PostgresField[]; sql: string; lateRows: number }> {
  const base =
    "sql" in request.source
      ? `(${sourceQueryText(request.source.sql)}) AS q`
      : quoteQualified(request.source.table);
  const effect = "sql" in request.source ? postgresSideEffectProblem(request.source.sql) : null;
  if (effect) throw new SluiceError("CONFIG_INVALID", `source.sql: ${effect}`);
  try {
    return await inPostgresTransaction(
      client,
      async () => {
        // ISO dates and times whatever the server's DateStyle: what DuckDB parses. The time zone stays the
        // session's (timestamptz values carry their offset), so current_date in the query means what it says.
        await client.query("SET LOCAL DateStyle = 'ISO, YMD'");
        const fields = (await client.query(`SELECT * FROM ${base} LIMIT 0`)).fields as PostgresField[];
        refuseAmbiguousNames(fields);
        const { sql, outsideWindowSql } = postgresIncrementalSql(base, fields, request);
        await pipeline(
          client.query(copyOut(`COPY (${sql}) TO STDOUT WITH (FORMAT csv)`)),
          createWriteStream(file),
        );
        const lateRows = outsideWindowSql
          ? Number((await client.query(`SELECT count(*) AS n FROM (${outsideWindowSql}) AS late`)).rows[0]?.n)
          : 0;
        return { fields, sql, lateRows };
      },
      "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY",
    );
  } catch (error) {
    if (error instanceof SluiceError || isTransientPgError(error)) throw error;
    throw new SluiceError("QUERY_FAILED", `source query failed on ${server}: ${messageOf(error)}`, {
      cause: error,
    });
  }
}

/** DuckDB names are case-insensitive: columns PostgreSQL tells apart only by case cannot be staged. */
function refuseAmbiguousNames(fields: readonly PostgresField[]): void {
  const seen = new Map<string, string>();
  for (const field of fields) {
    const other = seen.get(field.name.toLowerCase());
    if (other !== undefined) {
      throw new SluiceError(
        "QUERY_FAILED",
        `source query: columns ${JSON.stringify(other)} and ${JSON.stringify(field.name)} have the same name for DuckDB (names ignore case); rename one with AS`,
      );
    }
    seen.set(field.name.toLowerCase(), field.name);
  }
}

/** Reads the scratch CSV into `<prefix>_stage`, typed, numbered by line like a staged file. */
async function loadCsv(
  { engine, file }: PostgresStageContext,
  request: QueryStageRequest,
  fields: readonly PostgresField[],
): Promise<void> {
  const table = quoteIdent(`${request.tablePrefix}_stage`);
  const types = fields.map((f) => postgresEngineType(f.dataTypeID, f.dataTypeModifier) ?? "VARCHAR");
  const csvColumns = fields.map((_, i) => `${quoteLiteral(`c${i}`)}: 'VARCHAR'`).join(", ");
  const select = fields.map((f, i) => `CAST(c${i} AS ${types[i]}) AS ${quoteIdent(f.name)}`);
  try {
    await engine.run(
      `CREATE OR REPLACE TEMP TABLE ${table} AS SELECT ${[...select, "row_number() OVER () AS _sluice_line"].join(", ")}
       FROM read_csv(${quoteLiteral(file)}, columns = {${csvColumns}}, header = false, auto_detect = false,
         delim = ',', quote = '"', escape = '"', allow_quoted_nulls = false)`,
    );
    for (const field of fields) {
      if (postgresEngineType(field.dataTypeID, field.dataTypeModifier) === undefined)
        await typeNumeric(engine, table, field.name, request);
    }
  } catch (error) {
    throw new SluiceError("QUERY_FAILED", `source query result could not be staged: ${messageOf(error)}`, {
      cause: error,
    });
  }
}

/**
 * Types a `numeric` column without declared precision (staged as text) from its values: the narrowest
 * scale that keeps every digit, as DECIMAL(38, scale) (what DuckDB's own `sum()` of a decimal gives);
 * DOUBLE when DuckDB's decimals cannot hold the values, for NaN or infinity, or when there is no value.
 * A declared `columns:` type is applied later, from the exact text.
 */
export async function typeNumeric(
  engine: DuckDBConnection,
  table: string,
  name: string,
  request: QueryStageRequest,
): Promise<void> {
  if (request.columns[name]?.type) return;
  const column = quoteIdent(name);
  const [row] = await queryRows(
    engine,
    `SELECT max(length(split_part(ltrim(${column}, '-'), '.', 1))) AS digits,
            coalesce(max(length(split_part(${column}, '.', 2))), 0) AS scale,
            count(*) FILTER (WHERE ${column} NOT SIMILAR TO '-?[0-9]+(\\.[0-9]+)?') AS special
     FROM ${table}`,
  );
  const digits = row?.digits === null || row?.digits === undefined ? null : Number(row.digits);
  const scale = Number(row?.scale ?? 0);
  const exact = digits !== null && Number(row?.special) === 0 && digits + scale <= maxDecimalPrecision;
  const type = exact ? `DECIMAL(${maxDecimalPrecision},${scale})` : "DOUBLE";
  await engine.run(`ALTER TABLE ${table} ALTER ${column} TYPE ${type} USING CAST(${column} AS ${type})`);
}

function messageOf(error: unknown): string {
  return error instanceof Error ? firstLine(error.message) : String(error);
}
