import type { DuckDBConnection } from "@duckdb/node-api";
import type { ColumnConfig } from "../config/schema.js";
import { firstLine, SluiceError } from "../errors.js";
import { lateDataFilterSql } from "../plan/incremental-sql.js";
import type { StagedColumn } from "../plan/read-sql.js";
import { quoteIdent, quoteLiteral, quoteQualified } from "../plan/sql-text.js";
import { sourceQueryBody } from "../plan/sql-tokens.js";
import { describeColumns, queryNumber, queryRows } from "./duckdb-query.js";
import { flattenStagedJson, type NestedQueryRequest } from "./nested-query-columns.js";
import { explainRefusal } from "./outside-project.js";
import { type CastColumn, castIntoStage, type StagedFile } from "./stage-file.js";

/** What to stage from the warehouse. */
export interface QueryStageRequest {
  /** `{ sql }` or `{ table }` of the pipeline. */
  readonly source: { readonly sql: string } | { readonly table: string };
  readonly columns: Readonly<Record<string, ColumnConfig>>;
  /** Incremental read: only rows whose cursor is above `after` (minus `overlapMs`). */
  readonly cursor?: {
    readonly column: string;
    readonly after: string | null;
    /** `incremental.lag` / `late_data_window`: how far below the high-water mark rows are read again. */
    readonly overlapMs: number;
    /**
     * Late data: with partition columns, every partition touched by a new row is staged in full (so a
     * delete_insert/merge target recomputes it), provided `partitionsSince` says it is recent enough.
     */
    readonly partitionBy?: readonly string[] | undefined;
    readonly windowMs?: number | undefined;
  };
  readonly tablePrefix: string;
  /** `nested: flatten | tables` of a database source: how its JSON columns land (see flattenStagedJson). */
  readonly nested?: NestedQueryRequest | undefined;
}

/** A staged query result, shaped like a staged file (malformed rows: values not fitting a declared type). */
export interface StagedQuery extends StagedFile {
  /** The new high-water mark (max cursor value staged), as text; null without rows or cursor. */
  readonly cursorMax: string | null;
  /** The SQL that was staged, for the run log. */
  readonly sql: string;
  /**
   * The stage is a view over a database extract's scratch files: every read of it parses them again
   * (see `stagesInPlace`), so the run profiles the rows once they are in the target instead.
   */
  readonly readsFiles?: boolean | undefined;
}

/**
 * Runs a pipeline's `sql:` (or reads its `table:`) over the warehouse into a temporary table shaped
 * like a staged file, so checks, modes and quarantine apply exactly as for files.
 *
 * @example
 * const staged = await stageQuery(con, { source: { table: "orders" }, columns: {}, tablePrefix: "q0" });
 */
export async function stageQuery(con: DuckDBConnection, request: QueryStageRequest): Promise<StagedQuery> {
  const table = `${request.tablePrefix}_stage`;
  const base =
    "sql" in request.source
      ? `(${sourceQueryText(request.source.sql)})`
      : quoteQualified(request.source.table);
  const { sql, outsideWindowSql } = await incrementalSql(con, base, request);
  await createMalformedTable(con, request.tablePrefix);
  try {
    await con.run(
      `CREATE OR REPLACE TEMP TABLE ${quoteIdent(table)} AS SELECT *, row_number() OVER () AS _sluice_line FROM (${sql})`,
    );
  } catch (error) {
    const message = error instanceof Error ? firstLine(error.message) : String(error);
    throw new SluiceError("QUERY_FAILED", `source query failed: ${explainRefusal(message)}`, {
      cause: error,
    });
  }
  const late = outsideWindowSql ? await queryNumber(con, `SELECT count(*) FROM (${outsideWindowSql})`) : 0;
  return completeStagedQuery(con, request, { sql, lateRows: late });
}

/**
 * A pipeline's `sql:` as it can be nested in another query (trailing semicolons and comments removed);
 * SQL holding several statements is a configuration error (`sluice validate` reports it first).
 *
 * @example
 * sourceQueryText(" select 1; -- all ") // "select 1"
 */
export function sourceQueryText(sql: string): string {
  const read = sourceQueryBody(sql);
  if ("problem" in read) throw new SluiceError("CONFIG_INVALID", `source.sql: ${read.problem}`);
  return read.body;
}

/** Creates the (always empty) malformed-rows table of a staged query. */
export async function createMalformedTable(con: DuckDBConnection, tablePrefix: string): Promise<void> {
  await con.run(
    `CREATE OR REPLACE TEMP TABLE ${quoteIdent(`${tablePrefix}_malformed`)} (line BIGINT, error_type VARCHAR, message VARCHAR, raw VARCHAR)`,
  );
}

/**
 * Finishes a query result already in the engine as `<tablePrefix>_stage` (with `_sluice_line`):
 * applies the declared `columns:` types, counts the rows and finds the cursor's new high-water mark.
 * Every warehouse's staging ends here, so a staged result has the same shape wherever it was read.
 *
 * @example
 * const staged = await completeStagedQuery(con, request, { sql: "SELECT * FROM orders", lateRows: 0 });
 */
export async function completeStagedQuery(
  con: DuckDBConnection,
  request: QueryStageRequest,
  read: {
    readonly sql: string;
    readonly lateRows: number;
    /** Rows the source says it sent (a database extract staged in place): spares a scan counting them. */
    readonly rows?: number | undefined;
  },
): Promise<StagedQuery> {
  const table = `${request.tablePrefix}_stage`;
  const columns: { -readonly [K in keyof StagedColumn]: StagedColumn[K] }[] = request.nested
    ? await flattenStagedJson(con, table, request.nested)
    : (await describeColumns(con, quoteIdent(table)))
        .filter((c) => c.name !== "_sluice_line" && !c.name.startsWith("_sluice_"))
        .map((c) => ({ name: c.name, sourceName: c.name, type: c.type, declared: false }));
  const malformedTable = `${request.tablePrefix}_malformed`;
  // Every source's stage has one, also when its reader (a database extract) did not make it.
  await con.run(
    `CREATE TEMP TABLE IF NOT EXISTS ${quoteIdent(malformedTable)} (line BIGINT, error_type VARCHAR, message VARCHAR, raw VARCHAR)`,
  );
  if (columns.some((c) => request.columns[c.name]?.type)) {
    // A value that does not convert to its declared type is a malformed row, as in a file.
    await castIntoStage(
      con,
      { tablePrefix: request.tablePrefix, table, malformedTable },
      {
        from: quoteIdent(table),
        casts: columns.map((c) => declaredCast(c, request.columns[c.name])),
        lineSql: "_sluice_line",
        rawSql: `to_json(struct_pack(${columns.map((c) => `${quoteIdent(c.name)} := ${quoteIdent(c.name)}`).join(", ")}))::VARCHAR`,
      },
    );
    for (const c of columns) c.type = request.columns[c.name]?.type ?? c.type;
  }
  const accepted =
    read.rows !== undefined && !columns.some((c) => request.columns[c.name]?.type)
      ? read.rows
      : await queryNumber(con, `SELECT count(*) FROM ${quoteIdent(table)}`);
  let cursorMax: string | null = null;
  if (request.cursor && accepted > 0) {
    const rows = await queryRows(
      con,
      `SELECT max(${quoteIdent(request.cursor.column)})::VARCHAR AS m FROM ${quoteIdent(table)}`,
    );
    cursorMax = (rows[0]?.m as string | null) ?? null;
  }
  const warnings: string[] = [];
  if (read.lateRows > 0) {
    warnings.push(
      `${read.lateRows} new row(s) belong to partitions older than late_data_window; those partitions are not re-processed`,
    );
  }
  return {
    prefix: request.tablePrefix,
    table,
    malformedTable,
    columns,
    accepted,
    malformed: await queryNumber(con, `SELECT count(*) FROM ${quoteIdent(malformedTable)}`),
    warnings,
    cursorMax,
    sql: read.sql,
  };
}

/**
 * How a result column is cast to its declared type. A declared date `format` applies to text only: a
 * value the warehouse already typed is cast as it is.
 */
function declaredCast(column: { name: string; type: string }, config: ColumnConfig | undefined): CastColumn {
  const valueSql = quoteIdent(column.name);
  if (!config?.type)
    return { name: column.name, valueSql, type: column.type, config: undefined, cast: false };
  const text = column.type.toUpperCase() === "VARCHAR";
  return {
    name: column.name,
    valueSql,
    type: config.type,
    config: text ? config : { ...config, format: undefined },
    cast: true,
  };
}

async function incrementalSql(
  con: DuckDBConnection,
  base: string,
  request: QueryStageRequest,
): Promise<{ sql: string; outsideWindowSql?: string }> {
  const cursor = request.cursor;
  if (!cursor || cursor.after === null) return { sql: `SELECT * FROM ${base}` };
  const column = quoteIdent(cursor.column);
  const typeRows = await queryRows(con, `SELECT typeof(${column}) AS t FROM ${base} LIMIT 1`).catch(
    (error: unknown) => {
      throw new SluiceError(
        "QUERY_FAILED",
        `incremental.cursor ${cursor.column}: ${error instanceof Error ? firstLine(error.message) : String(error)}`,
        { cause: error },
      );
    },
  );
  const type = String(typeRows[0]?.t ?? "VARCHAR");
  const temporal = /^(DATE|TIMESTAMP)/i.test(type);
  const mark = `CAST(${quoteLiteral(cursor.after)} AS ${type})`;
  const lower = cursor.overlapMs > 0 && temporal ? `${mark} - to_milliseconds(${cursor.overlapMs})` : mark;
  // Late data: re-stage every partition a new row touched (within the window, for temporal partitions).
  const partitionBy = cursor.partitionBy ?? [];
  const windowMs = cursor.windowMs;
  return lateDataFilterSql(
    base,
    cursor.column,
    lower,
    partitionBy,
    windowMs === undefined
      ? undefined
      : () => {
          const first = quoteIdent(partitionBy[0]!);
          return `(try_cast(${first} AS TIMESTAMP) IS NULL OR try_cast(${first} AS TIMESTAMP) >= now()::TIMESTAMP - to_milliseconds(${windowMs}))`;
        },
  );
}
