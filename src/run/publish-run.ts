import type { Logger } from "pino";
import type { PipelineConfig } from "../config/schema.js";
import { type ChildTable, splitNestedTables } from "../engine/nested-tables.js";
import { quoteIdent } from "../plan/sql-text.js";
import { cdcLakeEventsSql } from "../warehouse/cdc-events.js";
import type { Warehouse } from "../warehouse/warehouse.js";
import { checkWarehouseBeforeLake } from "./check-warehouse-before-lake.js";
import { lakeTargetPlan, publishToLake } from "./lake-publish.js";
import type { ProjectContext } from "./project-context.js";
import type { RunOutcome } from "./run-outcome.js";
import type { RunReport } from "./run-report.js";

/**
 * The publish stage: target rows, ledger and run record in one warehouse transaction, with the lake
 * commit first inside it, under the pipeline's lock and after a stream batch's positions are claimed (see
 * PositionClaim). Every writer of a pipeline (run, watch, worker, backfill, replay, stream) publishes
 * here, so its lake commits come one at a time across processes, each with its warehouse commit.
 *
 * @example
 * await publishRun(ctx, warehouse, pipeline, outcome, logger);
 */
export async function publishRun(
  ctx: ProjectContext,
  warehouse: Warehouse,
  pipeline: PipelineConfig,
  outcome: RunOutcome,
  logger: Logger,
  onStage?: (stage: "lake write" | "publish") => void,
): Promise<void> {
  const { run, report, rowsSql, ledger, quarantineSql } = outcome;
  // Test hook: hold the run before it publishes, so that a run started later publishes first.
  const delayMs = Number(process.env.SLUICE_PUBLISH_DELAY_MS ?? 0);
  if (delayMs > 0) await new Promise((resolve) => setTimeout(resolve, delayMs));
  const lake = lakeTargetPlan(pipeline.target);
  if (lake && rowsSql) {
    await checkWarehouseBeforeLake(warehouse, rowsSql, pipeline.target, pipeline.schema_evolution);
  }
  // The lake commit waits, inside the warehouse transaction, for the pipeline's lock (two processes'
  // commits of one pipeline would otherwise race: see lake-publish.ts) and for a stream batch's positions
  // (a batch whose positions another worker published never reaches the lake).
  const claimed = outcome.positions !== undefined && outcome.positions.length > 0;
  const writeLake = lake
    ? async () => {
        const events = await lakeOutcome(warehouse, pipeline, outcome);
        await publishToLake(ctx, warehouse, run.pipeline, lake, events, logger, claimed);
        onStage?.("publish");
        // Crash-test hook: die in the window between the lake commit and the warehouse commit.
        if (process.env.SLUICE_FAILPOINT === "after-lake-commit") process.kill(process.pid, "SIGKILL");
      }
    : undefined;
  const claim =
    claimed || writeLake ? { batches: outcome.positions ?? [], afterClaim: writeLake } : undefined;
  if (rowsSql && pipeline.target.table) {
    // With a lake, the lake write comes first in the publish (its wait for the pipeline's lock included),
    // then the warehouse's rows.
    onStage?.(writeLake ? "lake write" : "publish");
    const publishStarted = performance.now();
    const nested =
      pipeline.nested?.mode === "tables"
        ? await splitNestedTables(
            warehouse.engine,
            rowsSql,
            { ...pipeline.target, table: pipeline.target.table },
            pipeline.nested,
            pipeline.naming,
          )
        : undefined;
    const result = await warehouse
      .publish({
        run,
        target: pipeline.target,
        rowsSql: nested?.rowsSql ?? rowsSql,
        children: nested?.children,
        rowsRepeatable: Object.keys(pipeline.derive).length === 0,
        replaces: outcome.replaces,
        ledger,
        quarantineSql,
        checks: report.checks,
        schemaEvolution: pipeline.schema_evolution,
        sumColumns: numericColumns(pipeline),
        sourceRows: outcome.sourceRows,
        watermark: outcome.watermark,
        completeAfterWrite: outcome.completeAfterWrite,
        constantColumns: outcome.constantColumns,
        alongsideWrite: outcome.alongsideWrite,
        rawCopy: outcome.rawCopy,
        claim,
        resolveDuplicates: (paths) => {
          markDuplicates(report, paths);
          return {
            run: { ...run, report: { ...report } },
            ledger: ledger.map((e) =>
              paths.includes(e.path) && e.status === "loaded"
                ? { ...e, status: "skipped_duplicate" as const, rowsLoaded: 0 }
                : e,
            ),
          };
        },
      })
      .finally(() => dropChildTables(warehouse, nested?.children ?? []));
    report.load = {
      table: pipeline.target.table,
      mode: pipeline.target.mode,
      inserted: result.inserted,
      updated: result.updated,
      deleted: result.deleted,
    };
    report.reconciliation = result.reconciliation;
    if (result.schemaChanges?.length) report.schema_changes = result.schemaChanges;
    if (result.retriedUnderFullMemory) {
      logger.info(
        { reason: "out of memory under the streamed write's lower limit" },
        "written again under the run's memory limit",
      );
    }
    if (result.reconciliation && !result.reconciliation.ok) {
      logger.warn({ mismatches: result.reconciliation.mismatches }, "reconciliation mismatch");
    }
    logger.info(
      {
        ...report.load,
        reconciliation: result.reconciliation?.ok ?? null,
        ms: Math.round(performance.now() - publishStarted),
      },
      "published",
    );
    return;
  }
  if (writeLake) onStage?.("lake write");
  await warehouse.recordRun(run, ledger, quarantineSql, claim);
  logger.info("recorded (no rows to publish)");
}

/** The outcome as the lake takes it: change events unwrapped and decoded (the event log keeps values). */
async function lakeOutcome(
  warehouse: Warehouse,
  pipeline: PipelineConfig,
  outcome: RunOutcome,
): Promise<RunOutcome> {
  if (pipeline.target.mode !== "cdc" || !outcome.rowsSql) return outcome;
  return { ...outcome, rowsSql: await cdcLakeEventsSql(warehouse.engine, outcome.rowsSql, pipeline.target) };
}

/** The engine tables of a run's child tables (`nested: tables`), once published or not. */
async function dropChildTables(warehouse: Warehouse, children: readonly ChildTable[]): Promise<void> {
  for (const child of children) {
    await warehouse.engine
      .run(`DROP TABLE IF EXISTS ${quoteIdent(child.engineTable)}`)
      .catch(() => undefined);
  }
}

/** Columns declared numeric under `columns:` (their sums are reconciled). */
export function numericColumns(pipeline: PipelineConfig): string[] {
  return Object.entries(pipeline.columns)
    .filter(([, c]) => c.mask === undefined && /int|decimal|numeric|double|float|real/i.test(c.type ?? ""))
    .map(([name, c]) => c.rename ?? name);
}

/** Files another process loaded first: reported skipped_duplicate, their rows not counted as loaded. */
function markDuplicates(report: RunReport, paths: readonly string[]): void {
  for (const file of report.files) {
    if (!paths.includes(file.path) || file.status !== "loaded") continue;
    file.status = "skipped_duplicate";
    file.warnings.push("loaded meanwhile by another process");
    report.rows.loaded -= file.rows.loaded;
    report.rows.duplicates += file.rows.loaded;
    file.rows.duplicates += file.rows.loaded;
    file.rows.loaded = 0;
  }
}
