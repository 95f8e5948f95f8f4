import { createHash, randomUUID } from "node:crypto";
import type { DatabaseSourceConfig, PipelineConfig, SourceConfig } from "../config/schema.js";
import { parseDuration } from "../durations.js";
import type { StagedQuery } from "../engine/stage-query.js";
import { SluiceError } from "../errors.js";
import { flattensNested } from "../plan/nested-json.js";
import { databaseSourcePath, stageDatabaseSource } from "../sources/stage-database-source.js";
import type { Warehouse } from "../warehouse/warehouse.js";

/** A warehouse source (`{ sql }` or `{ table }`) or an external database's (`{ database, table | query }`). */
export type QuerySource = { readonly sql: string } | { readonly table: string } | DatabaseSourceConfig;

/** The pipeline's source when it reads a query result (warehouse SQL or table, a database), else undefined. */
export function querySourceOf(source: SourceConfig): QuerySource | undefined {
  if ("database" in source) return source;
  if ("sql" in source) return { sql: source.sql };
  if ("table" in source) return { table: source.table };
  return undefined;
}

/**
 * How a query-result run names its one unit in reports and the ledger: `sql:<pipeline>`,
 * `table:<name>`, or the database source's name.
 *
 * @example
 * queryUnitPath("daily", { table: "orders" }) // "table:orders"
 */
export function queryUnitPath(pipeline: string, source: QuerySource): string {
  return "database" in source
    ? databaseSourcePath(pipeline, source)
    : "sql" in source
      ? `sql:${pipeline}`
      : `table:${source.table}`;
}

/** The incremental cursor a warehouse-source run read up to (stored in its run report). */
export interface CursorRange {
  readonly column: string;
  readonly from: string | null;
  readonly to: string | null;
}

/**
 * Stages a warehouse source for a run: reads only rows above the pipeline's stored high-water mark
 * (`incremental.cursor`, committed with the rows, so a crash never skips or repeats), applies `lag` /
 * `late_data_window`, and returns the staged rows plus the range read.
 *
 * @example
 * const { staged, cursor } = await stageQuerySource(warehouse, "daily", pipeline, source, "q0");
 */
export async function stageQuerySource(
  warehouse: Warehouse,
  name: string,
  pipeline: PipelineConfig,
  source: QuerySource,
  tablePrefix: string,
  runDir?: string,
): Promise<{ staged: StagedQuery; sha256: string; cursor: CursorRange | null }> {
  const incremental = pipeline.incremental;
  // The high-water mark the last load stored with its rows (the run's incremental stage keeps it current).
  const after = incremental ? await warehouse.watermark(name) : null;
  const lagMs = incremental?.lag ? parseDuration(incremental.lag) : 0;
  const windowMs = pipeline.late_data_window ? parseDuration(pipeline.late_data_window) : undefined;
  const request = {
    columns: pipeline.columns,
    tablePrefix,
    ...(incremental
      ? {
          cursor: {
            column: incremental.cursor,
            after,
            overlapMs: Math.max(
              lagMs,
              windowMs !== undefined && !pipeline.target.partition_by ? windowMs : 0,
            ),
            partitionBy: pipeline.target.partition_by ?? pipeline.target.lake?.partition_by,
            windowMs,
          },
        }
      : {}),
  };
  // A database source is extracted into the same engine; the warehouse reads its own sources.
  const nested = flattensNested(pipeline.nested)
    ? { nested: pipeline.nested, columns: pipeline.columns, naming: pipeline.naming }
    : undefined;
  const staged = await ("database" in source
    ? stageDatabaseSource(warehouse.engine, { ...request, source, nested }, runDir)
    : warehouse.stageSource({ ...request, source })
  ).catch((error: unknown) => {
    throw atSourceKey(error, name, source);
  });
  const cursor = incremental
    ? { column: incremental.cursor, from: after, to: staged.cursorMax ?? after }
    : null;
  // A query result is not a file known by content: every read is its own ledger entry (a constant hash
  // would make the publish step treat the next run's result as already loaded).
  const sha256 = createHash("sha256")
    .update(JSON.stringify({ sql: staged.sql, read: randomUUID(), to: cursor?.to ?? null }))
    .digest("hex");
  return { staged, sha256, cursor };
}

/**
 * A staging error that cannot be quarantined, named by the pipeline's config key it comes from
 * (`pipelines.daily.source.sql: source query failed: ...`); transient ones are left as they are.
 */
function atSourceKey(error: unknown, name: string, source: QuerySource): unknown {
  if (!(error instanceof SluiceError) || error.transient || error.message.startsWith("pipelines."))
    return error;
  const key = "sql" in source ? "source.sql" : "database" in source ? "source.database" : "source.table";
  // A message that already names its key (source.query: …, source: …) only needs the pipeline.
  const message = /^(source(\.\w+)?:|incremental\.cursor\b)/.test(error.message)
    ? `pipelines.${name}.${error.message}`
    : `pipelines.${name}.${key}: ${error.message}`;
  return new SluiceError(error.code, message, { cause: error, details: error.details });
}
