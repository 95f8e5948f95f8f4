import { asSluiceError } from "../errors.js";
import { withStreamedWriteMemory } from "../warehouse/streamed-write-memory.js";
import { recordAfterCommitWarnings } from "./after-commit-warnings.js";
import { publishedRowsSql } from "./complete-single-pass.js";
import { profileRows } from "./profile-gate.js";
import type { PublishOutcome } from "./publish-attempt.js";
import { writeQuarantineFile, writeQuarantineFiles } from "./quarantine-files.js";
import type { RunContext } from "./run-context.js";
import { logProblem } from "./run-log.js";
import type { Attempt } from "./unit.js";

/**
 * After the commit: quarantine files are written, units' raw forms are archived. What fails here (a
 * crash, a full disk) is repaired by a later run and reported as a warning: the run itself has succeeded.
 */
export async function afterCommit(
  run: RunContext,
  attempt: Attempt,
  published: Extract<PublishOutcome, { committed: true }>,
): Promise<void> {
  const { report } = attempt;
  const { quarantineSql } = published;
  const landing = run.project.landing;
  const quarantined = await writeQuarantineFiles(
    landing,
    run.warehouse,
    run.name,
    run.runId,
    quarantineSql
      ? () => writeQuarantineFile(landing, run.con, run.workDir, quarantineSql, report.quarantine!)
      : undefined,
    run.logger,
  );
  // The profile of a single-pass run (engine work) runs while the files move (storage work only): on
  // an S3 landing zone the server-side copies into archive/ take as long as the profile.
  const profiling = profileCommitted(run, attempt, published);
  const movesFailed = await archiveUnits(run, attempt);
  await profiling;
  // The stored report says where the files are (the ledger keeps the destination the next run uses)
  // and what could not be written after the commit.
  await recordAfterCommitWarnings(
    run.warehouse,
    report,
    [...quarantined, ...logProblem(run.log)],
    movesFailed,
    run.logger,
  );
}

/** Profiles a single-pass run's committed rows; a profile that fails is a warning, not a failure. */
async function profileCommitted(
  run: RunContext,
  attempt: Attempt,
  published: Extract<PublishOutcome, { committed: true }>,
): Promise<void> {
  const rows = published.profileAfterCommit;
  if (!rows) return;
  try {
    // Under the write's lower memory limit: the scan would otherwise keep the committed table's blocks
    // cached up to the run's limit (~90 MB more at 10M extracted rows); out of memory, it runs again.
    await withStreamedWriteMemory(run.con, async () =>
      profileRows(run, attempt.mode.pipeline, attempt.report, await publishedRowsSql(run.con, rows), {
        statsTable: rows.table,
        rowsAtMost: rows.rows,
      }),
    );
    await run.warehouse.updateRunReport(run.runId, { ...attempt.report });
  } catch (error) {
    run.logger.warn({ err: asSluiceError(error, "INTERNAL").message }, "profile not recorded");
  }
}

/** Moves at once: a burst of small files moves in a fraction of the time, one at a time it waits on each. */
const MOVES_AT_ONCE = 16;

/** Puts each unit's raw form where the ledger says; returns whether one could not be moved. */
async function archiveUnits(run: RunContext, attempt: Attempt): Promise<boolean> {
  let movesFailed = false;
  // Each destination was reserved for its file alone (see planDestinations): the moves are independent.
  const pending = attempt.works.filter(
    (w) => w.report.archived_to && w.report.archived_to !== w.report.path && w.unit.raw,
  );
  const move = async (work: (typeof pending)[number]) => {
    const file = work.report;
    try {
      await work.unit.raw!.keep(run, file.archived_to!);
      run.logger.info({ file: file.path, to: file.archived_to, status: file.status }, "file moved");
    } catch (error) {
      const message = asSluiceError(
        error,
        "STORAGE_ERROR",
        `${file.path}: could not be moved to ${file.archived_to}`,
      ).message;
      file.warnings.push(`${message}; it stays where it is, and the next run moves it`);
      run.logger.warn({ file: file.path }, message);
      file.archived_to = null;
      movesFailed = true;
    }
  };
  let next = 0;
  const mover = async () => {
    while (next < pending.length) await move(pending[next++]!);
  };
  // The moves share their folders (archive/<pipeline>/<yyyy>/<mm>): each is looked at for links once.
  const done = run.project.landing.batch?.();
  try {
    await Promise.all(Array.from({ length: Math.min(MOVES_AT_ONCE, pending.length) }, mover));
  } finally {
    done?.();
  }
  return movesFailed;
}
