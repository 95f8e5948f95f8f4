import { quoteLiteral } from "../plan/sql-text.js";
import type { RunRecord } from "./warehouse.js";

/** Upper bounds (seconds) of the run duration histogram buckets (`/metrics`). */
export const DURATION_BUCKETS = [0.1, 0.5, 1, 2, 5, 10, 30, 60, 300, 900, 3600] as const;

/** The row counts a run record carries, in `sluice.runs`' column order. */
export const RUN_OUTCOMES = ["read", "loaded", "quarantined", "malformed", "duplicates"] as const;

const COLUMNS = `pipeline, status, bucket, runs, ${RUN_OUTCOMES.map((o) => `rows_${o}`).join(", ")}, duration_us, last_finished_at`;

/** The histogram bucket of a duration in microseconds: the first bound it does not exceed. Pure. */
export function durationBucket(us: number): number {
  const i = DURATION_BUCKETS.findIndex((b) => us <= b * 1_000_000);
  return i < 0 ? DURATION_BUCKETS.length : i;
}

/**
 * The upsert adding one run to `sluice.run_totals` (runs, rows, duration per pipeline, status and duration
 * bucket), written in the transaction that records the run so the totals and the runs never disagree. Pure.
 *
 * @example
 * await session.exec(runTotalsSql(run));
 */
export function runTotalsSql(run: RunRecord): string {
  const rows = (run.report.rows ?? {}) as Record<string, number>;
  const n = (v: number | undefined): number => (Number.isFinite(v) ? Math.trunc(Number(v)) : 0);
  const us = (run.finishedAt.getTime() - run.startedAt.getTime()) * 1000;
  const sum = (c: string) => `${c} = sluice.run_totals.${c} + EXCLUDED.${c}`;
  return `INSERT INTO sluice.run_totals (${COLUMNS}) VALUES (${[
    quoteLiteral(run.pipeline),
    quoteLiteral(run.status),
    durationBucket(us),
    1,
    ...RUN_OUTCOMES.map((o) => n(rows[o])),
    Math.trunc(us),
    `CAST(${quoteLiteral(run.finishedAt.toISOString())} AS TIMESTAMPTZ)`,
  ].join(", ")})
  ON CONFLICT (pipeline, status, bucket) DO UPDATE SET ${[
    "runs",
    ...RUN_OUTCOMES.map((o) => `rows_${o}`),
    "duration_us",
  ]
    .map(sum)
    .join(", ")}, last_finished_at = greatest(sluice.run_totals.last_finished_at, EXCLUDED.last_finished_at)`;
}

/** A run's duration in whole microseconds, from the catalog's columns (both dialects). Pure. */
const DURATION_US_SQL =
  "CAST(round((extract(epoch FROM finished_at) - extract(epoch FROM started_at)) * 1000000) AS BIGINT)";

/** Whether the totals must be filled from the runs (a catalog from before they were kept). Pure. */
export const RUN_TOTALS_MISSING_SQL = `SELECT 1 AS missing WHERE NOT EXISTS (SELECT 1 FROM sluice.run_totals)
  AND EXISTS (SELECT 1 FROM sluice.runs)`;

/** Fills the totals from the runs already recorded (once, when the table is new). Pure. */
export const RUN_TOTALS_BACKFILL_SQL = `INSERT INTO sluice.run_totals (${COLUMNS})
  SELECT pipeline, status, bucket, count(*), ${RUN_OUTCOMES.map((o) => `coalesce(sum(rows_${o}), 0)`).join(", ")}, sum(us), max(finished_at)
    FROM (SELECT *, CASE ${DURATION_BUCKETS.map((b, i) => `WHEN us <= ${b * 1_000_000} THEN ${i}`).join(" ")} ELSE ${DURATION_BUCKETS.length} END AS bucket
            FROM (SELECT pipeline, status, ${RUN_OUTCOMES.map((o) => `rows_${o}`).join(", ")}, finished_at, ${DURATION_US_SQL} AS us
                    FROM sluice.runs) d) r
   GROUP BY pipeline, status, bucket`;

/**
 * Sums a catalog's recorded runs into `sluice.run_totals` when it was created by a build that did not keep
 * them (called right after the catalog DDL, by a read-write open).
 *
 * @example
 * await backfillRunTotals((sql) => queryRows(con, sql));
 */
export async function backfillRunTotals(
  run: (sql: string) => Promise<readonly Record<string, unknown>[]>,
): Promise<void> {
  if ((await run(RUN_TOTALS_MISSING_SQL)).length > 0) await run(RUN_TOTALS_BACKFILL_SQL);
}
