import type { Logger } from "pino";
import type { PipelineConfig } from "../config/schema.js";
import type { LedgerEntry, PublishBatch, RunRecord, Warehouse } from "../warehouse/warehouse.js";
import { lakeTargetPlan, publishToLake } from "./lake-publish.js";
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
 * The publish stage: the lake target first (a commit keyed by the run, see lake-publish.ts), then
 * target rows, ledger and run record in one warehouse transaction.
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
): Promise<void> {
  const { run, report, rowsSql, ledger, quarantineSql } = outcome;
  const lake = lakeTargetPlan(pipeline.target);
  if (lake) await publishToLake(ctx, warehouse, run.pipeline, lake, outcome, logger);
  // Crash-test hook: die in the window between the lake commit and the warehouse commit.
  if (lake && process.env.SLUICE_FAILPOINT === "after-lake-commit") process.kill(process.pid, "SIGKILL");
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
