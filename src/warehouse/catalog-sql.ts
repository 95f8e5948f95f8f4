import type { SqlDialect } from "../plan/sql-dialect.js";
import { quoteLiteral } from "../plan/sql-text.js";
import type { LedgerEntry, LoadRecord, RunRecord } from "./warehouse.js";

const lit = (value: string | null | undefined): string =>
  value === null || value === undefined ? "NULL" : quoteLiteral(value);
const ts = (value: Date | string): string =>
  `CAST(${quoteLiteral(typeof value === "string" ? value : value.toISOString())} AS TIMESTAMPTZ)`;
const json = (value: unknown, dialect: SqlDialect): string =>
  `CAST(${quoteLiteral(JSON.stringify(value))} AS ${dialect.catalogTypes.json})`;

/**
 * INSERT of a run record into `sluice.runs`. Pure.
 *
 * @example
 * runInsertSql(run, postgresDialect)
 */
export function runInsertSql(run: RunRecord, dialect: SqlDialect): string {
  const rows = (run.report.rows ?? {}) as Record<string, number>;
  const n = (v: number | undefined): number => (Number.isFinite(v) ? Number(v) : 0);
  return `INSERT INTO sluice.runs (run_id, pipeline, seq, status, started_at, finished_at, rows_read, rows_loaded, rows_quarantined, rows_malformed, rows_duplicates, error, report) VALUES (${[
    lit(run.runId),
    lit(run.pipeline),
    Number(run.report.sequence ?? 0),
    lit(run.status),
    ts(run.startedAt),
    ts(run.finishedAt),
    n(rows.read),
    n(rows.loaded),
    n(rows.quarantined),
    n(rows.malformed),
    n(rows.duplicates),
    run.report.error ? lit(String(run.report.error)) : "NULL",
    json(run.report, dialect),
  ].join(", ")})`;
}

/** UPDATE of a recorded run's report (facts learned after its commit, like a profile). Pure. */
export function runReportUpdateSql(
  runId: string,
  report: Readonly<Record<string, unknown>>,
  dialect: SqlDialect,
): string {
  return `UPDATE sluice.runs SET report = ${json(report, dialect)} WHERE run_id = ${lit(runId)}`;
}

/** INSERT of ledger entries into `sluice.files` (undefined when there are none). Pure. */
export function ledgerInsertSql(entries: readonly LedgerEntry[]): string | undefined {
  if (entries.length === 0) return undefined;
  const values = entries.map(
    (e) =>
      `(${[lit(e.runId), lit(e.pipeline), lit(e.path), lit(e.sha256), e.size, lit(e.status), e.rowsRead, e.rowsLoaded, lit(e.archivedTo), lit(e.error), "now()"].join(", ")})`,
  );
  return `INSERT INTO sluice.files (run_id, pipeline, path, sha256, size, status, rows_read, rows_loaded, archived_to, error, received_at) VALUES ${values.join(", ")}`;
}

/** INSERT of check results into `sluice.checks` (undefined when there are none). Pure. */
export function checksInsertSql(
  run: RunRecord,
  checks: readonly { readonly name: string; readonly severity: string; readonly failed: number }[],
): string | undefined {
  if (checks.length === 0) return undefined;
  return `INSERT INTO sluice.checks (run_id, pipeline, name, severity, failed) VALUES ${checks
    .map((c) => `(${lit(run.runId)}, ${lit(run.pipeline)}, ${lit(c.name)}, ${lit(c.severity)}, ${c.failed})`)
    .join(", ")}`;
}

/** INSERT of a load into `sluice.loads` (not yet rolled back). Pure. */
export function loadInsertSql(load: Omit<LoadRecord, "rolled_back_by">, dialect: SqlDialect): string {
  return `INSERT INTO sluice.loads (run_id, pipeline, table_name, mode, inserted, updated, deleted, saved, loaded_at, reconciliation) VALUES (${[
    lit(load.run_id),
    lit(load.pipeline),
    lit(load.table),
    lit(load.mode),
    load.inserted,
    load.updated,
    load.deleted,
    load.saved,
    ts(load.loaded_at),
    json(load.reconciliation ?? null, dialect),
  ].join(", ")})`;
}

/** INSERT of an incremental high-water mark set by a run. Pure. */
export function watermarkInsertSql(pipeline: string, runId: string, cursor: string, value: string): string {
  return `INSERT INTO sluice.watermarks (pipeline, run_id, cursor_column, value, set_at) VALUES (${lit(pipeline)}, ${lit(runId)}, ${lit(cursor)}, ${lit(value)}, now())`;
}

/** The current high-water mark of a pipeline. Pure. */
export function watermarkSelectSql(pipeline: string): string {
  return `SELECT value FROM sluice.watermarks WHERE pipeline = ${lit(pipeline)} ORDER BY set_at DESC, run_id DESC LIMIT 1`;
}

/** Marks ledger entries superseded by a `--force` reload. Pure. */
export function supersedeSql(
  replaces: readonly { readonly runId: string; readonly path: string }[],
): string[] {
  return replaces.map(
    (r) =>
      `UPDATE sluice.files SET status = 'replaced' WHERE run_id = ${lit(r.runId)} AND path = ${lit(r.path)} AND status = 'loaded'`,
  );
}

/** Ledger entries of content already loaded by a pipeline (of the given hashes). Pure. */
export function loadedHashesSql(pipeline: string, hashes: readonly string[]): string {
  return `SELECT sha256, run_id FROM sluice.files WHERE pipeline = ${lit(pipeline)} AND status = 'loaded' AND sha256 IN (${hashes.map(lit).join(", ")})`;
}

/**
 * Whether the pipeline has loaded a file of exactly `size` bytes: content can only repeat a loaded
 * file of the same size, so a file of a new size is read while it is being hashed.
 */
export function loadedSizesSql(pipeline: string, sizes: readonly number[]): string {
  return `SELECT DISTINCT size FROM sluice.files WHERE pipeline = ${lit(pipeline)} AND status = 'loaded' AND size IN (${sizes.map((s) => Math.trunc(s)).join(", ")})`;
}

/**
 * Whether the pipeline's latest run quarantined rows for its checks (malformed ones aside) or dropped
 * duplicates: one row `{ checked }` (none before the first run).
 */
export function lastRunRemovedRowsSql(pipeline: string): string {
  return `SELECT (coalesce(rows_quarantined, 0) - coalesce(rows_malformed, 0) > 0 OR coalesce(rows_duplicates, 0) > 0) AS checked FROM sluice.runs WHERE pipeline = ${lit(pipeline)} ORDER BY started_at DESC LIMIT 1`;
}

/** A `sluice.files` row as a ledger entry. */
export function rowToLedger(row: Record<string, unknown>): LedgerEntry {
  return {
    runId: String(row.run_id),
    pipeline: String(row.pipeline),
    path: String(row.path),
    sha256: String(row.sha256),
    size: Number(row.size),
    status: row.status as LedgerEntry["status"],
    rowsRead: Number(row.rows_read ?? 0),
    rowsLoaded: Number(row.rows_loaded ?? 0),
    archivedTo: (row.archived_to as string | null) ?? null,
    error: (row.error as string | null) ?? null,
  };
}
