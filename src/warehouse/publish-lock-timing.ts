import { appendFileSync } from "node:fs";

/** Times of one publish transaction around its advisory locks (ms, from `performance.now()`). */
export interface PublishLockTimes {
  /** When the transaction began. */
  begun: number;
  /** When the first lock was asked for (undefined: it took none). */
  asked?: number;
  /** When the last lock was granted. */
  granted?: number;
}

/**
 * Appends one publish's lock wait and lock hold to the file named by `SLUICE_LOCK_TIMING` (one JSON line
 * per publish; several processes may append to one file), so that a benchmark can tell how much of the
 * workers' time goes to waiting for one another. Nothing happens when the variable is unset.
 *
 * @example
 * recordLockTimes("events", times, performance.now(), true);
 */
export function recordLockTimes(
  pipeline: string,
  times: PublishLockTimes,
  ended: number,
  committed: boolean,
): void {
  const file = process.env.SLUICE_LOCK_TIMING?.trim();
  if (!file || times.asked === undefined || times.granted === undefined) return;
  const line = {
    pipeline,
    pid: process.pid,
    committed,
    before_ms: round(times.asked - times.begun),
    wait_ms: round(times.granted - times.asked),
    held_ms: round(ended - times.granted),
  };
  // A timing that cannot be written must not fail the publish it describes.
  try {
    appendFileSync(file, `${JSON.stringify(line)}\n`);
  } catch {}
}

function round(ms: number): number {
  return Math.round(ms * 10) / 10;
}
