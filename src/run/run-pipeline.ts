import { rmSync } from "node:fs";
import type { PipelineConfig } from "../config/schema.js";
import { asSluiceError, SluiceError } from "../errors.js";
import { withResolvedColumns } from "../plan/declared-columns.js";
import type { Warehouse } from "../warehouse/warehouse.js";
import { afterCommit } from "./after-commit.js";
import { recordAfterCommitWarnings } from "./after-commit-warnings.js";
import { recordFailedRun } from "./failed-run.js";
import { openRun, type RunRequest } from "./open-run.js";
import type { ProjectContext } from "./project-context.js";
import type { PublishOutcome } from "./publish-attempt.js";
import { runAttempt } from "./run-attempt.js";
import { newRunReport, type PipelineRunOptions, type RunMode } from "./run-context.js";
import { newRunId } from "./run-id.js";
import { decideMode, runSequence } from "./run-mode.js";
import type { RunReport } from "./run-report.js";
import { type Attempt, newAttempt, type RunUnit } from "./unit.js";
import { selectUnits } from "./units.js";
import { dropWorkTables } from "./work-tables.js";

export type { PipelineRunOptions, ReplaySpec } from "./run-context.js";
export type { RunProgress } from "./run-progress.js";

/**
 * Runs one pipeline once over the units its source selects (the glob's files, a replay, a query result).
 *
 * @example
 * const report = await runFilePipeline(ctx, warehouse, "orders", config.pipelines.orders, {});
 */
export async function runFilePipeline(
  project: ProjectContext,
  warehouse: Warehouse,
  name: string,
  written: PipelineConfig,
  options: PipelineRunOptions = {},
): Promise<RunReport> {
  const request = runRequest(project, warehouse, name, written, options);
  const { units, note } = await selectUnits(project, name, request.configured.source, options);
  return runUnits(request, units, note);
}

/** A run about to start: the pipeline as configured, the run's id and start. */
export function runRequest(
  project: ProjectContext,
  warehouse: Warehouse,
  name: string,
  written: PipelineConfig,
  options: PipelineRunOptions = {},
): RunRequest {
  const startedAt = new Date();
  const configured = withResolvedColumns(written);
  return { project, warehouse, name, written, configured, options, runId: newRunId(startedAt), startedAt };
}

/**
 * Runs units of work through the stages: read, stage, check and decide each → shape the batch → profile
 * → publish (one transaction) → archive → report. A single pass the publish undoes is run again as a
 * fresh attempt in the staged mode. With no units the run is skipped (`note` says why, when it matters).
 *
 * @example
 * const report = await runUnits(runRequest(ctx, warehouse, "orders", pipeline), units);
 */
export async function runUnits(
  request: RunRequest,
  units: readonly RunUnit[],
  note?: string,
): Promise<RunReport> {
  const { warehouse } = request;
  const base = newRunReport(request);
  if (units.length === 0) {
    if (note) base.note = note;
    return base;
  }
  const run = await openRun(request, base, units);
  let mode: RunMode | undefined;
  let attempt: Attempt | undefined;
  let committed = false;
  try {
    // A landing zone that cannot take the run's log (a full disk) fails the run before it loads anything.
    const logProblem = run.log.problem();
    if (run.log.empty() && logProblem) {
      throw new SluiceError("STORAGE_ERROR", `${logProblem}; nothing was loaded: free space and run again`);
    }
    mode = await decideMode(run, units.length, await runSequence(run, base));
    let published: PublishOutcome;
    for (;;) {
      attempt = newAttempt(run, mode, units);
      published = await runAttempt(run, attempt, units);
      if (published.committed) break;
      // Nothing was published: the next attempt starts afresh (the foreign keys stay staged).
      await dropWorkTables(run.con, attempt, undefined);
      mode = published.next;
    }
    committed = true;
    // Crash-test hook: die right after the commit, before quarantine files and moves.
    if (process.env.SLUICE_FAILPOINT === "after-commit") process.kill(process.pid, "SIGKILL");
    await afterCommit(run, attempt, published);
    run.logger.info({ status: attempt.report.status, rows: attempt.report.rows }, "run finished");
    return attempt.report;
  } catch (error) {
    const report = attempt?.report ?? base;
    if (committed) {
      // The run is published and recorded: a problem after that is a warning, never a failed run.
      await recordAfterCommitWarnings(warehouse, report, [asSluiceError(error).message], false, run.logger);
      return report;
    }
    const failure = asSluiceError(error, "INTERNAL");
    // Nothing was published: record the failed run; its files stay in the landing zone for the next run.
    await recordFailedRun(run, report, attempt?.works ?? [], failure);
    throw Object.assign(failure, { report });
  } finally {
    run.progress.stop();
    // Hashes still running are not needed any more (a failed run settles the ones it records first).
    await Promise.all([...run.acquired.values()].map((acquired) => acquired.release?.()));
    await dropWorkTables(run.con, attempt, mode?.foreignKeys);
    rmSync(run.workDir, { recursive: true, force: true });
    await run.log.close();
  }
}
