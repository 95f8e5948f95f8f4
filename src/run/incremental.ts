import type { PipelineConfig } from "../config/schema.js";
import { parseDuration } from "../durations.js";
import { queryNumber, queryValue } from "../engine/duckdb-query.js";
import type { StagedFile } from "../engine/stage-file.js";
import { SluiceError } from "../errors.js";
import { incrementalFilter, watermarkSql } from "../plan/incremental-sql.js";
import { quoteIdent } from "../plan/sql-text.js";
import type { Warehouse } from "../warehouse/warehouse.js";
import type { FileReport } from "./run-report.js";

/** The incremental state of one run: a row filter per staged file and the mark to store. */
export interface IncrementalRun {
  /** Filter for a staged file's rows (undefined: take all). */
  filterFor(staged: StagedFile): string | undefined;
  /** The high-water mark reached by the run's rows (undefined when nothing was loaded). */
  markOf(rowsSql: string | undefined): Promise<{ cursor: string; value: string } | undefined>;
}

/**
 * Applies `incremental: { cursor, lag }` to the staged files of a run: rows not newer than the stored
 * high-water mark minus the lag are left out (counted in the file's `duplicates`). Returns undefined when
 * the pipeline is not incremental.
 *
 * @example
 * const inc = await planIncremental(warehouse, "orders", pipeline, loadedWorks);
 */
export async function planIncremental(
  warehouse: Warehouse,
  name: string,
  pipeline: PipelineConfig,
  files: readonly { readonly staged?: StagedFile | undefined; readonly report: FileReport }[],
): Promise<IncrementalRun | undefined> {
  const config = pipeline.incremental;
  if (!config) return undefined;
  const cursor = config.cursor;
  const lagMs = config.lag ? parseDuration(config.lag, `pipelines.${name}.incremental.lag`) : 0;
  const mark = await warehouse.watermark(name);
  const filters = new Map<string, string | undefined>();
  let type = "VARCHAR";
  for (const file of files) {
    const staged = file.staged;
    if (!staged) continue;
    const column = staged.columns.find((c) => c.name === cursor);
    if (!column) {
      throw new SluiceError(
        "CONFIG_INVALID",
        `pipelines.${name}.incremental.cursor: column ${cursor} is not in ${file.report.path} (columns: ${staged.columns.map((c) => c.name).join(", ")})`,
      );
    }
    type = column.type;
    const filter = incrementalFilter(cursor, column.type, mark, lagMs);
    filters.set(staged.table, filter);
    if (filter) {
      const older = await queryNumber(
        warehouse.engine,
        `SELECT count(*) FROM ${quoteIdent(staged.table)} WHERE NOT coalesce(${filter}, false)`,
      );
      file.report.rows.loaded -= older;
      file.report.rows.duplicates += older;
    }
  }
  return {
    filterFor: (staged) => filters.get(staged.table),
    async markOf(rowsSql) {
      if (!rowsSql) return undefined;
      const value = await queryValue(warehouse.engine, watermarkSql(rowsSql, cursor, type, mark));
      return value === null || value === undefined ? undefined : { cursor, value: String(value) };
    },
  };
}
