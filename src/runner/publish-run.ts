import type { Logger } from "pino";
import type { PipelineConfig } from "../config/schema.js";
import type { LedgerEntry, PublishBatch, RunRecord, Warehouse } from "../warehouse/warehouse.js";
import type { ProjectContext } from "./project-context.js";
import type { RunReport } from "./run-report.js";

/** What a run hands to its targets once every file has been staged and judged. */
export interface RunOutcome {
  readonly run: RunRecord;
  readonly report: RunReport;
  /** SQL over the engine yielding the target rows of every loaded file; undefined when there are none. */
  readonly rowsSql: string | undefined;
  readonly replaces: PublishBatch["replaces"];
  readonly ledger: readonly LedgerEntry[];
  readonly quarantineSql: string | undefined;
}

/**
 * The publish stage: target rows, ledger and run record in one warehouse transaction.
 * (Targets beyond the warehouse hook in here, keyed by the run so a repeat never writes twice.)
 *
 * @example
 * await publishRun(ctx, warehouse, pipeline, outcome, logger);
 */
export async function publishRun(
  _ctx: ProjectContext,
  warehouse: Warehouse,
  pipeline: PipelineConfig,
  outcome: RunOutcome,
  logger: Logger,
): Promise<void> {
  const { run, report, rowsSql, ledger, quarantineSql } = outcome;
  if (rowsSql && pipeline.target.table) {
    const result = await warehouse.publish({
      run,
      target: pipeline.target,
      rowsSql,
      replaces: outcome.replaces,
      ledger,
      quarantineSql,
      checks: report.checks,
    });
    logger.info(
      { inserted: result.inserted, deleted: result.deleted, table: pipeline.target.table },
      "published",
    );
    return;
  }
  await warehouse.recordRun(run, ledger, quarantineSql);
  logger.info("recorded (no rows to publish)");
}
