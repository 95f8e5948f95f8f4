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

const COLUMNS = `run_id, file, line, rules, reasons, CAST("values" AS VARCHAR) AS "values", raw`;
const ORDER = "quarantined_at DESC, run_id DESC, file, line";

function whereSql(filter: QuarantineFilter): string {
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

function toRecord(r: Record<string, unknown>): QuarantineRecord {
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

/**
 * A page of {@link listQuarantine}'s rows and their total, without skipping `offset` rows: the rows sort
 * by run first, so the per-run counts (an index-only scan on PostgreSQL) give the total and the run the
 * page starts in, and the page reads from that run on.
 *
 * @example
 * const { rows, total } = await quarantinePage(warehouse, { pipeline: "orders", limit: 50, offset: 50_000 });
 */
export async function quarantinePage(
  warehouse: CatalogReader,
  filter: QuarantineFilter & { readonly limit: number; readonly offset: number },
): Promise<QuarantinePage> {
  const runs = await warehouse.query(
    `SELECT CAST(quarantined_at AS VARCHAR) AS at, run_id, count(*) AS n FROM sluice.quarantine WHERE ${whereSql(filter)} GROUP BY quarantined_at, run_id ORDER BY quarantined_at DESC, run_id DESC`,
  );
  const offset = Math.max(0, Math.trunc(filter.offset));
  let total = 0;
  let start: { at: string; runId: string; skip: number } | undefined;
  for (const r of runs) {
    const n = Number(r.n);
    if (!start && total + n > offset)
      start = { at: String(r.at), runId: String(r.run_id), skip: offset - total };
    total += n;
  }
  if (!start) return { rows: [], total };
  const at = `CAST(${quoteLiteral(start.at)} AS TIMESTAMPTZ)`;
  const from = `${whereSql(filter)} AND quarantined_at <= ${at} AND (quarantined_at < ${at} OR run_id <= ${quoteLiteral(start.runId)})`;
  const rows = await warehouse.query(
    `SELECT ${COLUMNS} FROM sluice.quarantine WHERE ${from} ORDER BY ${ORDER} LIMIT ${Math.max(1, Math.trunc(filter.limit))} OFFSET ${start.skip}`,
  );
  return { rows: rows.map(toRecord), total };
}
