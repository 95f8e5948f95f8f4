import { createWriteStream } from "node:fs";
import { rm } from "node:fs/promises";
import { join } from "node:path";
import { pipeline } from "node:stream/promises";
import type { DuckDBConnection } from "@duckdb/node-api";
import pg from "pg";
import { completeStagedQuery, type StagedQuery, sourceQueryText } from "../engine/stage-query.js";
import { SluiceError } from "../errors.js";
import { postgresSideEffectProblem } from "../plan/postgres-side-effects.js";
import { quoteIdent, quoteQualified } from "../plan/sql-text.js";
import { copyOut } from "../warehouse/postgres-copy-out.js";
import { isTransientPgError } from "../warehouse/postgres-errors.js";
import { type PostgresField, postgresIncrementalSql } from "../warehouse/postgres-incremental-sql.js";
import { typeNumeric } from "../warehouse/postgres-stage-source.js";
import { inPostgresTransaction } from "../warehouse/postgres-transaction.js";
import { parsePostgresUrl, postgresUrlProblem } from "../warehouse/postgres-url.js";
import {
  ambiguousNameProblem,
  asQueryRequest,
  type DatabaseStageRequest,
  stagesInPlace,
} from "./database-request.js";
import { type ExtractErrorKinds, extractError } from "./extract-error.js";
import { loadExtract } from "./load-extract.js";
import { copyKeyRanges } from "./postgres-parallel.js";
import {
  type ExtractColumn,
  isTypeProblem,
  type PostgresTypeInfo,
  postgresExtractColumn,
} from "./type-map.js";

/** An open connection to a PostgreSQL source, with its password-free label. */
export interface PostgresSource {
  readonly client: pg.PoolClient;
  readonly label: string;
  readonly secret: string;
  close(): Promise<void>;
}

/**
 * Connects to a PostgreSQL source (`source.database`). A URL that cannot be meant as written is a
 * configuration error; a refused login names the user and server, never the password.
 *
 * @example
 * const source = await connectPostgresSource("postgres://app:pw@db:5432/shop");
 */
export async function connectPostgresSource(url: string): Promise<PostgresSource> {
  const problem = postgresUrlProblem(url);
  if (problem) throw new SluiceError("CONFIG_INVALID", `source.database: ${problem}`);
  const target = parsePostgresUrl(url);
  const pool = new pg.Pool({ ...target.config, max: 1, application_name: "sluice-extract" });
  pool.on("error", () => undefined);
  const label = `PostgreSQL ${target.label}`;
  try {
    const client = await pool.connect();
    client.on("error", () => undefined);
    return {
      client,
      label,
      secret: target.secret,
      async close() {
        client.release(true);
        await pool.end().catch(() => undefined);
      },
    };
  } catch (error) {
    await pool.end().catch(() => undefined);
    throw extractError(error, label, target.secret, POSTGRES_ERRORS);
  }
}

/**
 * Extracts a PostgreSQL table or query into the engine as `<prefix>_stage`: within one REPEATABLE READ
 * READ ONLY transaction (one consistent snapshot, whatever is written meanwhile) the result's columns are
 * read first (`LIMIT 0`) and mapped (a type Sluice cannot carry fails here, naming the column, before
 * any row moves), then `COPY (...) TO STDOUT (FORMAT csv)` streams the rows to a scratch file the
 * engine reads in bulk. The incremental filter runs on the source. With `parallel:` the rows are copied
 * as key ranges on several connections sharing that snapshot (see copyKeyRanges).
 *
 * @example
 * const staged = await extractPostgres(engine, { source: { database: url, table: "public.customers" }, columns: {}, tablePrefix: "q0", workDir });
 */
export async function extractPostgres(
  engine: DuckDBConnection,
  request: DatabaseStageRequest,
): Promise<StagedQuery> {
  const { source: config } = request;
  const base =
    config.table !== undefined ? quoteQualified(config.table) : `(${queryText(config.query!)}) AS q`;
  const source = await connectPostgresSource(config.database);
  const file = join(request.workDir, `${request.tablePrefix}.csv`);
  const table = `${request.tablePrefix}_stage`;
  const queryRequest = asQueryRequest(request);
  let files: readonly string[] = [file];
  let inPlace = false;
  let copied: number | undefined;
  try {
    const read = await inPostgresTransaction(
      source.client,
      async () => {
        await source.client.query("SET LOCAL DateStyle = 'ISO, YMD'");
        const fields = (await source.client.query(`SELECT * FROM ${base} LIMIT 0`)).fields as PostgresField[];
        const columns = await extractColumns(source.client, fields);
        const { sql, outsideWindowSql } = postgresIncrementalSql(base, fields, queryRequest);
        const select = columns.map((c) =>
          c.serverSql ? c.serverSql(quoteIdent(c.name)) : quoteIdent(c.name),
        );
        const copySql = (where: string) =>
          `COPY (SELECT ${select.join(", ")} FROM (${sql}) AS e WHERE ${where}) TO STDOUT WITH (FORMAT csv)`;
        if (config.parallel) {
          files = await copyKeyRanges(
            source.client,
            async () => {
              const extra = await connectPostgresSource(config.database);
              return { client: extra.client, close: extra.close };
            },
            fields,
            `(${sql}) AS e`,
            config.parallel,
            copySql,
            Array.from({ length: config.parallel.parts }, (_, i) =>
              join(request.workDir, `${request.tablePrefix}_${i}.csv`),
            ),
          );
        } else {
          const copy = source.client.query(copyOut(copySql("true")));
          await pipeline(copy, createWriteStream(file, { highWaterMark: 1 << 20 }));
          copied = copy.rowCount;
        }
        const lateRows = outsideWindowSql
          ? Number(
              (await source.client.query(`SELECT count(*) AS n FROM (${outsideWindowSql}) AS late`)).rows[0]
                ?.n,
            )
          : 0;
        return { columns, sql, lateRows };
      },
      "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY",
    );
    inPlace = stagesInPlace(request, read.columns);
    const rowsTable = await loadExtract(engine, files, table, read.columns, source.label, inPlace);
    for (const column of read.columns) {
      if (column.engineType === undefined)
        await typeNumeric(engine, quoteIdent(table), column.name, queryRequest);
    }
    const staged = await completeStagedQuery(engine, queryRequest, {
      sql: read.sql,
      lateRows: read.lateRows,
      // COPY's own count of the lines it wrote, which the view reads.
      rows: inPlace ? copied : undefined,
    });
    return inPlace ? { ...staged, readsFiles: true, rowsTable } : staged;
  } catch (error) {
    throw extractError(error, source.label, source.secret, POSTGRES_ERRORS);
  } finally {
    // A view reads the files until the publish: they go with the run's folder.
    if (!inPlace) for (const f of files) await rm(f, { force: true });
    await source.close();
  }
}

/** The source query as it can be nested (one statement, no side effects), or a configuration error. */
function queryText(query: string): string {
  const effect = postgresSideEffectProblem(query);
  if (effect) throw new SluiceError("CONFIG_INVALID", `source.query: ${effect}`);
  return sourceQueryText(query);
}

/**
 * Maps every result column to its extract (see type-map.ts), asking the source's catalog about types
 * the metadata alone does not place (enums). Any column Sluice cannot carry fails the extract here.
 *
 * @example
 * const columns = await extractColumns(client, fields);
 */
export async function extractColumns(
  client: pg.ClientBase,
  fields: readonly PostgresField[],
): Promise<ExtractColumn[]> {
  const ambiguous = ambiguousNameProblem(fields.map((f) => f.name));
  if (ambiguous) throw new SluiceError("CONFIG_INVALID", `source: ${ambiguous}`);
  const first = fields.map((f) => postgresExtractColumn(f, undefined));
  const unknown = fields.filter((_, i) => isTypeProblem(first[i]!)).map((f) => f.dataTypeID);
  const info = new Map<number, PostgresTypeInfo>();
  if (unknown.length > 0) {
    const rows = await client.query(
      "SELECT oid::int AS oid, typname, typtype FROM pg_type WHERE oid = ANY($1::oid[])",
      [unknown],
    );
    for (const row of rows.rows)
      info.set(Number(row.oid), { name: String(row.typname), kind: String(row.typtype) });
  }
  return fields.map((field) => {
    const column = postgresExtractColumn(field, info.get(field.dataTypeID));
    if (isTypeProblem(column)) throw new SluiceError("CONFIG_INVALID", `source: ${column.problem}`);
    return column;
  });
}

const POSTGRES_ERRORS: ExtractErrorKinds = {
  denied: new Set(["28P01", "28000"]),
  transient: (error) => isTransientPgError(error),
};
