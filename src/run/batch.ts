import type { PipelineConfig } from "../config/schema.js";
import { maskSaltSql } from "../engine/check-file.js";
import { queryRows } from "../engine/duckdb-query.js";
import type { StagedFile } from "../engine/stage-file.js";
import type { StagedQuery } from "../engine/stage-query.js";
import { batchDedupeSql } from "../plan/dedupe.js";
import { maskExpression } from "../plan/masking.js";
import { shapeSql } from "../plan/shape-sql.js";
import { quoteIdent, quoteLiteral } from "../plan/sql-text.js";
import { type IncrementalRun, planIncremental } from "./incremental.js";
import { pipelineOf, type RunContext } from "./run-context.js";
import type { Attempt, UnitWork } from "./unit.js";

/** The rows a run publishes: its loaded units, shaped and put together. */
export interface Batch {
  /** The units whose rows are in the batch. */
  readonly loaded: readonly UnitWork[];
  /** SQL over the engine for the rows to publish; undefined when there are none. */
  readonly rowsSql: string | undefined;
  readonly incremental: IncrementalRun | undefined;
  /** Files read by the publish itself (single pass): counted and profiled after the write. */
  readonly deferred: readonly UnitWork[];
  /**
   * The batch's row count as its sources gave it, when the batch is exactly their rows (see
   * {@link sourceCountedRows}): the publish reconciles the target against it instead of counting the batch.
   */
  readonly sourceRows?: number | undefined;
}

/** Write modes that need one row per key in a batch. */
const KEYED_MODES: ReadonlySet<string> = new Set(["merge", "scd2"]);

/**
 * Shapes each loaded unit's kept rows for the target (renames, masks, lineage columns, the incremental
 * filter) and unions them by name; a keyed write is deduped across units.
 */
export async function assembleBatch(run: RunContext, attempt: Attempt): Promise<Batch> {
  const { pipeline } = attempt.mode;
  const loaded = attempt.works.filter((w) => w.report.status === "loaded" && w.staged);
  // Late data on a warehouse source re-stages whole partitions, older rows included: no cursor filter.
  const lateData = run.query !== undefined && pipeline.late_data_window !== undefined;
  const rowsBefore = lateData ? loaded.map((w) => ({ ...w.report.rows })) : [];
  const incremental = await planIncremental(run.warehouse, run.name, pipeline, loaded);
  if (lateData) for (const [i, w] of loaded.entries()) Object.assign(w.report.rows, rowsBefore[i]);
  const withColumns = loaded.filter((w) => w.staged!.columns.length > 0);
  // Files staged together are shaped together: one SELECT over their group's rows, not one per file.
  const grouped =
    lateData || incremental ? [] : withColumns.filter((w) => attempt.together.groupOf(w.staged!));
  const rowsParts = [
    ...groupParts(run, attempt, grouped),
    ...withColumns
      .filter((w) => !grouped.includes(w))
      .map((w) => {
        const unitPipeline = pipelineOf(run, attempt.mode, w.report.path);
        return shapeSql(
          w.checked?.keptTable ?? w.staged!.rowsTable ?? w.staged!.table,
          w.staged!.columns,
          unitPipeline,
          {
            runId: run.runId,
            sourceFile: sourceFileOf(run, w),
            loadedAt: run.startedAt,
          },
          lateData ? undefined : incremental?.filterFor(w.staged!),
          maskedValue(unitPipeline, w.staged!),
        );
      }),
  ];
  let rowsSql = rowsParts.length > 0 ? rowsParts.map((p) => `(${p})`).join(" UNION ALL BY NAME ") : undefined;
  if (rowsSql && rowsParts.length > 1 && pipeline.dedupe && KEYED_MODES.has(pipeline.target.mode)) {
    rowsSql = await dedupeAcrossUnits(run, pipeline, rowsSql, loaded);
  }
  return {
    loaded,
    rowsSql,
    incremental,
    deferred: loaded.filter((w) => w.staged?.deferred),
    sourceRows: rowsSql && rowsParts.length === 1 ? sourceCountedRows(loaded, incremental) : undefined,
  };
}

/**
 * The rows a database extract read in place says it sent (COPY's count, the row stream's), when the
 * batch takes all of them: no checks or dedupe (quarantined or dropped rows), no incremental filter in
 * the engine. Counting the batch instead would parse the extract's files once more just to count them;
 * the source's own count also makes the reconciliation end to end (source to target).
 */
function sourceCountedRows(
  loaded: readonly UnitWork[],
  incremental: IncrementalRun | undefined,
): number | undefined {
  const counted = loaded.every(
    (w) =>
      (w.staged as StagedQuery | undefined)?.readsFiles === true &&
      !w.checked &&
      incremental?.filterFor(w.staged!) === undefined,
  );
  return counted ? loaded.reduce((sum, w) => sum + w.staged!.accepted, 0) : undefined;
}

/** One SELECT per group of files staged together, over the loaded files' rows of its table. */
function groupParts(run: RunContext, attempt: Attempt, grouped: readonly UnitWork[]): string[] {
  const byGroup = new Map<string, UnitWork[]>();
  for (const w of grouped) {
    const table = attempt.together.groupOf(w.staged!)!.rowsTable;
    const works = byGroup.get(table) ?? [];
    works.push(w);
    byGroup.set(table, works);
  }
  return [...byGroup].map(([table, works]) => {
    const staged = works[0]!.staged!;
    const files = works.map((w) => quoteLiteral(w.report.path)).join(", ");
    return shapeSql(
      table,
      staged.columns,
      attempt.mode.pipeline,
      { runId: run.runId, sourceFile: "", loadedAt: run.startedAt, sourceFileColumn: "_sluice_file" },
      `_sluice_file IN (${files})`,
      maskedValue(attempt.mode.pipeline, staged),
    );
  });
}

/** The source file a unit's rows name in the target: a replayed quarantine file names the original. */
export function sourceFileOf(run: RunContext, work: UnitWork): string {
  return run.replayed.get(work.report.path)?.sourceFile ?? work.report.path;
}

/**
 * A keyed write (merge, scd2) takes one row per key from the whole batch: each unit was deduped on its
 * own, so a key found in several is deduped again across them (see `batchDedupeSql`); the rows dropped
 * count as their unit's duplicates.
 */
async function dedupeAcrossUnits(
  run: RunContext,
  pipeline: PipelineConfig,
  rowsSql: string,
  loaded: readonly UnitWork[],
): Promise<string> {
  const files = loaded.filter((w) => w.staged!.columns.length > 0);
  const sources = files.map((w) => sourceFileOf(run, w));
  const plan = batchDedupeSql(pipeline.dedupe!, rowsSql, sources, "sluice_batch_dedupe");
  await run.con.run(plan.create);
  const dropped = await queryRows(run.con, plan.droppedPerFile);
  for (const { file, n } of dropped) {
    const work = files.find((w) => sourceFileOf(run, w) === String(file));
    if (!work) continue;
    work.report.rows.loaded -= Number(n);
    work.report.rows.duplicates += Number(n);
  }
  run.logger.info({ duplicates: dropped.reduce((sum, r) => sum + Number(r.n), 0) }, "deduped across files");
  return plan.kept;
}

/** Column value SQL for the target: masked where the pipeline masks the column. */
function maskedValue(pipeline: PipelineConfig, staged: StagedFile): (column: string) => string {
  const types = new Map(staged.columns.map((c) => [c.name, c.type]));
  return (column) => {
    const mask = pipeline.columns[column]?.mask;
    const ref = quoteIdent(column);
    if (!mask) return ref;
    return maskExpression(mask, ref, maskSaltSql, types.get(column) ?? "VARCHAR") ?? ref;
  };
}
