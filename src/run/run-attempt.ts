import { assembleBatch } from "./batch.js";
import { planDestinations } from "./destinations.js";
import { profileGate } from "./profile-gate.js";
import { type PublishOutcome, publishAttempt } from "./publish-attempt.js";
import type { RunContext } from "./run-context.js";
import { totalAttempt } from "./run-totals.js";
import { type Attempt, newWork, type RunUnit, type UnitWork } from "./unit.js";
import { awaitDigest, lostLinesError, markFailed } from "./unit-digest.js";

/**
 * One attempt at a run, in its mode: each unit is read, staged, checked and decided; the batch is
 * shaped, profiled, given its destinations and published in one transaction.
 */
export async function runAttempt(
  run: RunContext,
  attempt: Attempt,
  units: readonly RunUnit[],
): Promise<PublishOutcome> {
  let bytesDone = 0;
  for (const [index, unit] of units.entries()) {
    run.progress.file(index, bytesDone, unit.path, unit.size);
    const work = await readUnit(run, attempt, unit, index);
    attempt.works.push(work);
    attempt.report.files.push(work.report);
    bytesDone += unit.size;
  }
  run.progress.filesDone(bytesDone);
  const batch = await assembleBatch(run, attempt);
  const gate = await profileGate(run, attempt, batch);
  await planDestinations(run, attempt);
  const quarantineSql = await totalAttempt(run, attempt);
  return publishAttempt(run, attempt, batch, gate, quarantineSql);
}

/**
 * Reads one unit; its hash is settled before it returns unless the single-pass publish reads the file
 * (then it is settled after that write, in `completeSinglePass`).
 */
async function readUnit(run: RunContext, attempt: Attempt, unit: RunUnit, index: number): Promise<UnitWork> {
  const work = await unit.read(run, attempt, newWork(unit), index);
  const readByWrite =
    attempt.mode.singlePass &&
    work.staged?.deferred &&
    work.staged.columns.length > 0 &&
    work.report.status === "loaded";
  if (!readByWrite) {
    await awaitDigest(run, work);
    const lost = await lostLinesError(run, work, (staged) => attempt.together.materialize(run.con, staged));
    if (lost) markFailed(run, work, lost, true);
  }
  return work;
}
