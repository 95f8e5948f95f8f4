import { quoteLiteral } from "../plan/sql-text.js";
import type { CatalogReader } from "../warehouse/warehouse.js";

/** Which quarantined rows to read. */
export interface QuarantineFilter {
  readonly pipeline: string;
  readonly runId?: string | undefined;
  /** Undefined reads every row (the CLI's --json). */
  readonly limit?: number | undefined;
  readonly offset?: number | undefined;
}

/** One quarantined row as `sluice quarantine --json` prints it (values masked as stored). */
export interface QuarantineRecord {
  readonly run_id: string;
  readonly file: string | null;
  readonly line: number | null;
  readonly rules: string[];
  readonly reasons: string[];
  readonly values: Record<string, unknown> | null;
  readonly raw: string | null;
}

export const COLUMNS = `run_id, file, line, rules, reasons, CAST("values" AS VARCHAR) AS "values", raw`;
export const ORDER = "quarantined_at DESC, run_id DESC, file, line";

export function whereSql(filter: QuarantineFilter): string {
  return `pipeline = ${quoteLiteral(filter.pipeline)}${filter.runId ? ` AND run_id = ${quoteLiteral(filter.runId)}` : ""}`;
}

/** SQL reading quarantined rows, newest run first, in file order. Pure. */
export function quarantineSql(filter: QuarantineFilter): string {
  const page =
    filter.limit === undefined
      ? ""
      : ` LIMIT ${Math.max(1, Math.trunc(filter.limit))} OFFSET ${Math.max(0, Math.trunc(filter.offset ?? 0))}`;
  return `SELECT ${COLUMNS} FROM sluice.quarantine WHERE ${whereSql(filter)} ORDER BY ${ORDER}${page}`;
}

/**
 * Quarantined rows of a pipeline (or one of its runs), as stored: masked columns stay masked.
 *
 * @example
 * const rows = await listQuarantine(warehouse, { pipeline: "orders", limit: 100, offset: 0 });
 */
export async function listQuarantine(
  warehouse: CatalogReader,
  filter: QuarantineFilter,
): Promise<QuarantineRecord[]> {
  const rows = await warehouse.query(quarantineSql(filter));
  return rows.map(toRecord);
}

export function toRecord(r: Record<string, unknown>): QuarantineRecord {
  return {
    run_id: String(r.run_id),
    file: r.file === null || r.file === undefined ? null : String(r.file),
    line: r.line === null || r.line === undefined ? null : Number(r.line),
    rules: (r.rules as string[]) ?? [],
    reasons: (r.reasons as string[]) ?? [],
    values: r.values === null || r.values === undefined ? null : JSON.parse(String(r.values)),
    raw: r.raw === null || r.raw === undefined ? null : String(r.raw),
  };
}

/** One page of quarantined rows, and how many rows the filter matches in all. */
export interface QuarantinePage {
  readonly rows: QuarantineRecord[];
  readonly total: number;
}

/** Rows quarantined per run of a filter, newest run first (the order of the quarantine's pages). */
export interface RunCount {
  readonly at: string;
  readonly runId: string;
  readonly rows: number;
}

/**
 * The per-run counts kept in `sluice.quarantine_runs` as rows are quarantined; counted from the quarantine
 * on a catalog opened read-only before a build that keeps them created that table.
 */
export async function runCounts(warehouse: CatalogReader, filter: QuarantineFilter): Promise<RunCount[]> {
  const order = "GROUP BY quarantined_at, run_id ORDER BY quarantined_at DESC, run_id DESC";
  const kept = `SELECT CAST(quarantined_at AS VARCHAR) AS at, run_id, sum(rows_quarantined) AS n FROM sluice.quarantine_runs WHERE ${whereSql(filter)} ${order}`;
  const counted = `SELECT CAST(quarantined_at AS VARCHAR) AS at, run_id, count(*) AS n FROM sluice.quarantine WHERE ${whereSql(filter)} ${order}`;
  const rows = await keptOrCounted(warehouse, kept, counted, "quarantine_runs");
  return rows.map((r) => ({ at: String(r.at), runId: String(r.run_id), rows: Number(r.n) }));
}

/**
 * Reads a total kept at publish (`kept`, from the catalog table `table`), or counts it (`counted`) when that
 * table is missing: a catalog opened read-only before a build that keeps it created the table.
 */
export async function keptOrCounted(
  warehouse: CatalogReader,
  kept: string,
  counted: string,
  table: string,
): Promise<Record<string, unknown>[]> {
  return warehouse.query(kept).catch((error: unknown) => {
    // PostgreSQL's error is the cause of Sluice's.
    for (let e = error; e instanceof Error; e = e.cause)
      if (e.message.includes(table)) return warehouse.query(counted);
    throw error;
  });
}

/** Rows quarantined per pipeline (the `sluice_quarantine_rows` gauge), from the kept counts. */
export async function quarantineSizes(
  warehouse: CatalogReader,
): Promise<{ pipeline: string; rows: number }[]> {
  const kept =
    "SELECT pipeline, sum(rows_quarantined) AS n FROM sluice.quarantine_runs GROUP BY pipeline ORDER BY pipeline";
  const counted = "SELECT pipeline, count(*) AS n FROM sluice.quarantine GROUP BY pipeline ORDER BY pipeline";
  const rows = await keptOrCounted(warehouse, kept, counted, "quarantine_runs");
  return rows.map((r) => ({ pipeline: String(r.pipeline), rows: Number(r.n) }));
}

/** `(quarantined_at, run_id)` at or after (`<=`, newer) or at or before (`>=`) a run, in page order. Pure. */
export function runBound(run: RunCount, op: "<=" | ">="): string {
  const at = `CAST(${quoteLiteral(run.at)} AS TIMESTAMPTZ)`;
  return `quarantined_at ${op} ${at} AND (quarantined_at ${op[0]} ${at} OR run_id ${op} ${quoteLiteral(run.runId)})`;
}

/**
 * A page of {@link listQuarantine}'s rows and their total, without skipping `offset` rows nor counting
 * the quarantine: the rows sort by run first, so the per-run counts kept at publish give the total and
 * the runs the page spans, and the page reads only those runs' rows.
 *
 * @example
 * const { rows, total } = await quarantinePage(warehouse, { pipeline: "orders", limit: 50, offset: 50_000 });
 */
export async function quarantinePage(
  warehouse: CatalogReader,
  filter: QuarantineFilter & { readonly limit: number; readonly offset: number },
): Promise<QuarantinePage> {
  const runs = await runCounts(warehouse, filter);
  const offset = Math.max(0, Math.trunc(filter.offset));
  const limit = Math.max(1, Math.trunc(filter.limit));
  let total = 0;
  let start: { run: RunCount; skip: number } | undefined;
  let end: RunCount | undefined;
  for (const run of runs) {
    if (!start && total + run.rows > offset) start = { run, skip: offset - total };
    if (start && !end && total + run.rows >= offset + limit) end = run;
    total += run.rows;
  }
  if (!start) return { rows: [], total };
  const last = end ?? runs[runs.length - 1]!;
  // DuckDB reads a top-50 or smaller twice (the sort keys, then the rows by row id): once is cheaper here,
  // where the runs' bounds already leave few rows; the extra rows are dropped.
  const rows = await warehouse.query(
    `SELECT ${COLUMNS} FROM sluice.quarantine WHERE ${whereSql(filter)} AND ${runBound(start.run, "<=")} AND ${runBound(last, ">=")}
      ORDER BY ${ORDER} LIMIT ${Math.max(limit, 51)} OFFSET ${start.skip}`,
  );
  return { rows: rows.slice(0, limit).map(toRecord), total };
}
