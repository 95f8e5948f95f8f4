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

function whereSql(filter: QuarantineFilter): string {
  return `pipeline = ${quoteLiteral(filter.pipeline)}${filter.runId ? ` AND run_id = ${quoteLiteral(filter.runId)}` : ""}`;
}

/** SQL reading quarantined rows, newest run first, in file order. Pure. */
export function quarantineSql(filter: QuarantineFilter): string {
  const page =
    filter.limit === undefined
      ? ""
      : ` LIMIT ${Math.max(1, Math.trunc(filter.limit))} OFFSET ${Math.max(0, Math.trunc(filter.offset ?? 0))}`;
  return `SELECT run_id, file, line, rules, reasons, CAST("values" AS VARCHAR) AS "values", raw FROM sluice.quarantine WHERE ${whereSql(filter)} ORDER BY quarantined_at DESC, run_id DESC, file, line${page}`;
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
  return rows.map((r) => ({
    run_id: String(r.run_id),
    file: r.file === null || r.file === undefined ? null : String(r.file),
    line: r.line === null || r.line === undefined ? null : Number(r.line),
    rules: (r.rules as string[]) ?? [],
    reasons: (r.reasons as string[]) ?? [],
    values: r.values === null || r.values === undefined ? null : JSON.parse(String(r.values)),
    raw: r.raw === null || r.raw === undefined ? null : String(r.raw),
  }));
}

/** How many rows {@link listQuarantine} would read without paging. */
export async function countQuarantine(warehouse: CatalogReader, filter: QuarantineFilter): Promise<number> {
  const rows = await warehouse.query(`SELECT count(*) AS n FROM sluice.quarantine WHERE ${whereSql(filter)}`);
  return Number(rows[0]?.n ?? 0);
}
