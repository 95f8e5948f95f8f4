import type { SluiceError } from "../errors.js";
import type { RunContext } from "./run-context.js";
import type { RunReport } from "./run-report.js";
import { addRows, emptyRows } from "./run-report.js";
import type { UnitWork } from "./unit.js";
import { awaitDigest } from "./unit-digest.js";

/**
 * Records a run that failed before its publish committed: nothing was published, its units stay where
 * they are for the next run. A run that cannot be recorded is logged (the error thrown is the run's).
 */
export async function recordFailedRun(
  run: RunContext,
  report: RunReport,
  works: readonly UnitWork[],
  failure: SluiceError,
): Promise<void> {
  report.status = "failed";
  report.error = failure.message;
  report.finished_at = new Date().toISOString();
  report.quarantine = null;
  run.logger.error({ code: failure.code }, failure.message);
  for (const work of works) await awaitDigest(run, work);
  for (const work of works) {
    if (work.report.status === "loaded")
      Object.assign(work.report, { status: "failed", error: failure.message });
    work.report.archived_to = null;
    work.report.rows.loaded = 0;
  }
  report.rows = emptyRows();
  for (const work of works) addRows(report.rows, work.report.rows);
  await run.warehouse
    .recordRun(
      {
        runId: run.runId,
        pipeline: run.name,
        status: "failed",
        startedAt: run.startedAt,
        finishedAt: new Date(report.finished_at),
        report: { ...report },
      },
      works.map((w) => ({
        runId: run.runId,
        pipeline: run.name,
        path: w.report.path,
        sha256: w.report.sha256,
        size: w.report.size,
        status: w.report.status === "skipped_duplicate" ? "skipped_duplicate" : "failed",
        rowsRead: w.report.rows.read,
        rowsLoaded: 0,
        archivedTo: null,
        error: w.report.error,
      })),
    )
    .catch((recordError: unknown) =>
      run.logger.error({ err: String(recordError) }, "could not record the failed run"),
    );
}
