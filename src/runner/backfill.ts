import { isFileSource, type PipelineConfig } from "../config/schema.js";
import { SluiceError } from "../errors.js";
import { quoteLiteral } from "../plan/sql-text.js";
import type { ProjectContext } from "../run/project-context.js";
import type { RunReport } from "../run/run-report.js";
import type { StorageEntry } from "../storage/storage.js";
import type { LedgerEntry, Warehouse } from "../warehouse/warehouse.js";
import { assertKnownPipelines } from "./known-pipelines.js";
import { runWithRetries } from "./pipeline-retries.js";

/** Options of {@link backfill}. */
export interface BackfillOptions {
  /** First day (YYYY-MM-DD, UTC) of receipt of the files to re-process. */
  readonly from: string;
  /** Last day, inclusive. */
  readonly to: string;
  /** Months processed at once where the warehouse allows concurrent writers (DuckDB: always 1). */
  readonly parallel?: number;
  readonly onReport?: (report: RunReport) => void;
}

const DAY = /^\d{4}-\d{2}-\d{2}$/;

/**
 * Re-processes the archived files a pipeline received between `from` and `to` (inclusive, by day of
 * receipt) through the normal run path, one run per month of the range. Each file's earlier rows are
 * replaced (as `run --force` does), so the target ends up as if the files had been loaded under the
 * current config, and running the same backfill again changes nothing. Files stay in the archive.
 *
 * @example
 * const reports = await backfill(ctx, "orders", { from: "2026-01-01", to: "2026-03-31" });
 */
export async function backfill(
  ctx: ProjectContext,
  name: string,
  options: BackfillOptions,
): Promise<RunReport[]> {
  assertKnownPipelines(ctx.project.config.pipelines, [name]);
  const pipeline = ctx.project.config.pipelines[name]!;
  const stream = "stream" in pipeline.source;
  if (!isFileSource(pipeline.source) && !stream) {
    throw new SluiceError(
      "USAGE",
      `backfill re-processes archived files; pipeline ${name} reads the warehouse (run it instead)`,
    );
  }
  for (const [flag, value] of [
    ["--from", options.from],
    ["--to", options.to],
  ] as const) {
    if (!DAY.test(value) || Number.isNaN(Date.parse(`${value}T00:00:00Z`))) {
      throw new SluiceError("USAGE", `${flag} ${value}: expected a day like 2026-01-31`);
    }
  }
  if (options.from > options.to)
    throw new SluiceError("USAGE", `--from ${options.from} is after --to ${options.to}`);
  const warehouse = await ctx.openWarehouse();
  const reports: RunReport[] = [];
  try {
    if (options.parallel && options.parallel > 1 && !warehouse.capabilities.concurrentWriters) {
      ctx.notice(
        `--parallel ${options.parallel}: the embedded DuckDB warehouse has one writer; months run one after another (each file's read is parallel inside DuckDB)`,
      );
    }
    // The first receipt of each content in the range (a later skipped duplicate adds nothing).
    const rows = await warehouse.query(
      `SELECT archived_to, strftime(min(received_at) AT TIME ZONE 'UTC', '%Y-%m') AS month
         FROM sluice.files
        WHERE pipeline = ${quoteLiteral(name)} AND status = 'loaded' AND starts_with(archived_to, 'archive/')
          AND (received_at AT TIME ZONE 'UTC')::DATE BETWEEN ${quoteLiteral(options.from)}::DATE AND ${quoteLiteral(options.to)}::DATE
        GROUP BY archived_to ORDER BY month, min(received_at), archived_to`,
    );
    const months = new Map<string, StorageEntry[]>();
    for (const row of rows) {
      const path = String(row.archived_to);
      const entry = await ctx.landing.stat(path);
      if (!entry) {
        ctx.notice(`${ctx.landing.root}/${path}: archived file is missing; skipped`);
        continue;
      }
      const list = months.get(String(row.month)) ?? [];
      list.push(entry);
      months.set(String(row.month), list);
    }
    const earlierLoads = stream ? await streamBatchLoads(warehouse, name) : undefined;
    for (const [month, entries] of months) {
      ctx.notice(`${name}: backfilling ${month} (${entries.length} file(s))`);
      const report = await runWithRetries(
        ctx,
        warehouse,
        name,
        stream ? archivedBatches(pipeline, entries) : pipeline,
        {
          entries,
          force: true,
          keepInPlace: true,
          earlierLoads,
        },
      );
      reports.push(report);
      options.onReport?.(report);
    }
  } finally {
    await warehouse.close();
  }
  return reports;
}

/**
 * A stream pipeline as its archived batches are read back: JSON-lines files, one message a line (a poison
 * message's marked line is malformed again: quarantined, as when it came; a line as long as the largest
 * file is taken), `nested:` as on the stream, and `max_failure_rate` not holding a batch back (as for the
 * stream's own batches).
 */
function archivedBatches(pipeline: PipelineConfig, entries: readonly StorageEntry[]): PipelineConfig {
  const longest = Math.max(0, ...entries.map((e) => e.size));
  return {
    ...pipeline,
    source: {
      path: "archive/**/*.jsonl",
      format: "jsonl",
      on_malformed: "quarantine",
      options: { max_line_size: Math.max(2_000_000, longest + 1) },
    },
    max_failure_rate: 1,
  };
}

/**
 * The stream batches of a pipeline still loaded as published, by their archived chunk. The ledger knows a
 * batch by its positions, not by its chunk's content: the first backfill of a chunk replaces the batch's
 * rows through these (later ones find the backfill's own load by content).
 */
async function streamBatchLoads(warehouse: Warehouse, name: string): Promise<Map<string, LedgerEntry[]>> {
  const rows = await warehouse.query(
    `SELECT run_id, path, sha256, size, rows_read, rows_loaded, archived_to FROM sluice.files
      WHERE pipeline = ${quoteLiteral(name)} AND status = 'loaded' AND starts_with(path, 'stream:')
        AND starts_with(archived_to, 'archive/')`,
  );
  const loads = new Map<string, LedgerEntry[]>();
  for (const row of rows) {
    const archivedTo = String(row.archived_to);
    const entry: LedgerEntry = {
      runId: String(row.run_id),
      pipeline: name,
      path: String(row.path),
      sha256: String(row.sha256),
      size: Number(row.size),
      status: "loaded",
      rowsRead: Number(row.rows_read),
      rowsLoaded: Number(row.rows_loaded),
      archivedTo,
      error: null,
    };
    loads.set(archivedTo, [...(loads.get(archivedTo) ?? []), entry]);
  }
  return loads;
}
