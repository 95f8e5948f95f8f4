import type { DuckDBConnection } from "@duckdb/node-api";
import { parseProblem, type QueryBatch, streamJsonRows } from "../engine/duckdb-query.js";
import { explainRefusal } from "../engine/outside-project.js";
import { asSluiceError, SluiceError } from "../errors.js";
import type { ProjectContext } from "../run/project-context.js";
import { openQueryEngine } from "./query-engine.js";
import { deltaFolders, missingLakeTableError, mountLakeViews } from "./query-lake-views.js";

/** Lake pins and mounts of a query (`sluice query --version/--timestamp/--delta`). */
export interface QueryOptions {
  /** `<table>=<N>`: read a lake table as of a Delta version. */
  readonly versions?: readonly string[];
  /** `<table>=<ISO-8601>`: read a lake table as of the last commit at or before a time. */
  readonly timestamps?: readonly string[];
  /** `<name>=<path>`: mount any Delta table folder as the view `<name>`. */
  readonly deltas?: readonly string[];
  /** Base for relative `deltas` paths (default: the current directory). */
  readonly cwd?: string;
}

/**
 * Runs one read-only statement against the warehouse and the lake (`lake.<table>`), yielding its rows
 * batch by batch: memory holds one batch, whatever the result's size. With a PostgreSQL warehouse and no
 * lake table named, the SQL runs on the server through a cursor in a READ ONLY transaction; otherwise in
 * a confined DuckDB session with the warehouse attached read-only. Anything but one query is refused
 * before it runs. The first batch always comes (empty for no rows), naming the columns.
 *
 * @example
 * for await (const { columns, rows } of queryBatches(ctx, "SELECT * FROM orders")) write(columns, rows);
 */
export async function* queryBatches(
  ctx: ProjectContext,
  sql: string,
  options: QueryOptions = {},
): AsyncGenerator<QueryBatch> {
  const versions = options.versions ?? [];
  const timestamps = options.timestamps ?? [];
  const deltas = options.deltas ?? [];
  const cwd = options.cwd ?? process.cwd();
  const usesLake = versions.length + timestamps.length + deltas.length > 0 || /\blake\s*\./i.test(sql);
  if (ctx.warehouseFile === undefined && !usesLake) {
    // PostgreSQL warehouse: the SQL runs there, in a read-only transaction.
    const warehouse = await ctx.openWarehouse({ readOnly: true });
    try {
      yield* failedAsQuery(warehouse.streamQuery(sql), (message) => message);
    } finally {
      await warehouse.close();
    }
    return;
  }
  const engine = await openQueryEngine(ctx, { directories: deltaFolders(deltas, cwd) });
  let cleanup: (() => Promise<void>) | undefined;
  try {
    // Parsing needs no tables: a refused statement is refused before the lake is mounted.
    await refuseWrites(engine.con, sql);
    cleanup = await mountLakeViews(engine.con, ctx, { sql, versions, timestamps, deltas, cwd });
    const batches = streamJsonRows(engine.con, sql);
    const first = await batches.next().catch(async (error: unknown) => {
      const message = asSluiceError(error).message;
      const lakeError = await missingLakeTableError(ctx, sql, message);
      if (lakeError) throw lakeError;
      const hint = engine.hasWarehouse ? "" : " (no warehouse yet: run `sluice run` first)";
      throw new SluiceError("QUERY_FAILED", `${explainRefusal(message)}${hint}`, { cause: error });
    });
    if (first.done) return;
    yield first.value;
    yield* failedAsQuery(batches, explainRefusal);
  } finally {
    await cleanup?.();
    engine.close();
  }
}

/** Passes batches on; a failure while reading them is the query's (QUERY_FAILED, exit 1). */
async function* failedAsQuery(
  batches: AsyncGenerator<QueryBatch>,
  explain: (message: string) => string,
): AsyncGenerator<QueryBatch> {
  try {
    yield* batches;
  } catch (error) {
    if (error instanceof SluiceError && error.code === "QUERY_FAILED") throw error;
    throw new SluiceError("QUERY_FAILED", explain(asSluiceError(error).message), { cause: error });
  }
}

/**
 * The warehouse is attached read-only, but DuckDB SQL can also write files (`COPY ... TO`, `EXPORT`),
 * attach other databases, change settings or install extensions: a query runs one statement
 * (`SELECT`, `WITH`, `FROM`, `VALUES`, `DESCRIBE`, `SHOW`, `SUMMARIZE`), optionally under `EXPLAIN`, and
 * anything else is refused before it runs. The SQL is only parsed (`json_serialize_sql` accepts queries
 * alone), never bound: binding `EXPORT DATABASE` already creates its folder.
 */
async function refuseWrites(con: DuckDBConnection, sql: string): Promise<void> {
  // Splitting into statements only parses them.
  const { count } = await con.extractStatements(sql).catch((error: unknown) => {
    throw new SluiceError("QUERY_FAILED", asSluiceError(error).message, { cause: error });
  });
  if (count !== 1) {
    throw new SluiceError(
      "QUERY_FAILED",
      `the SQL holds ${count} statements; sluice query runs one statement at a time (nothing was run)`,
    );
  }
  const query = sql.replace(/^\s*explain(\s+analyze)?\b/i, "");
  const problem = await parseProblem(con, query);
  if (problem) {
    if (!/only select statements/i.test(problem)) throw new SluiceError("QUERY_FAILED", problem);
    const kind = (/^\s*([A-Za-z]+)/.exec(query)?.[1] ?? "such").toUpperCase();
    throw new SluiceError(
      "QUERY_FAILED",
      `sluice query runs read-only queries (SELECT, WITH, FROM, DESCRIBE, SHOW, SUMMARIZE, EXPLAIN); ${/^[AEIOU]/.test(kind) ? "an" : "a"} ${kind} statement was refused (nothing was run)`,
    );
  }
}
