/**
 * SQL keeping `sluice.quarantine_runs` (rows quarantined per run) beside `sluice.quarantine`. Pure.
 * `from` is where the rows just written can be read: PostgreSQL's temporary table of them, or the
 * quarantine itself restricted to this transaction's rows (`quarantined_at` defaults to `now()`, the
 * transaction's start: rows of earlier transactions are older, rows of this one all carry it).
 *
 * @example
 * await client.query(quarantineCountsSql("sluice_q", "true"));
 */
export function quarantineCountsSql(from: string, where: string): string {
  return `INSERT INTO sluice.quarantine_runs (pipeline, run_id, quarantined_at, rows_quarantined)
  SELECT pipeline, run_id, now(), count(*) FROM ${from} WHERE ${where} GROUP BY pipeline, run_id`;
}

/** Whether the counts must be filled from the quarantine (a catalog from before they were kept). Pure. */
export const QUARANTINE_COUNTS_MISSING_SQL = `SELECT 1 AS missing WHERE NOT EXISTS (SELECT 1 FROM sluice.quarantine_runs)
  AND EXISTS (SELECT 1 FROM sluice.quarantine)`;

/** Fills the counts from the quarantine rows already there (once, when the table is new). Pure. */
export const QUARANTINE_COUNTS_BACKFILL_SQL = `INSERT INTO sluice.quarantine_runs (pipeline, run_id, quarantined_at, rows_quarantined)
  SELECT pipeline, run_id, quarantined_at, count(*) FROM sluice.quarantine GROUP BY pipeline, run_id, quarantined_at`;

/**
 * Counts a catalog's existing quarantine rows when it was created by a build that did not keep them
 * (called right after the catalog DDL, by a read-write open).
 *
 * @example
 * await backfillQuarantineCounts((sql) => queryRows(con, sql));
 */
export async function backfillQuarantineCounts(
  run: (sql: string) => Promise<readonly Record<string, unknown>[]>,
): Promise<void> {
  if ((await run(QUARANTINE_COUNTS_MISSING_SQL)).length > 0) await run(QUARANTINE_COUNTS_BACKFILL_SQL);
}
