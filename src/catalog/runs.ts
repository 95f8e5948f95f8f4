import { SluiceError } from "../errors.js";
import { quoteLiteral } from "../plan/sql-text.js";
import type { CatalogReader } from "../warehouse/warehouse.js";
import { keptOrCounted } from "./quarantine.js";

/** Which runs to list (every field optional; newest first). */
export interface RunFilter {
  readonly runId?: string | undefined;
  readonly pipeline?: string | undefined;
  readonly status?: "succeeded" | "failed" | "skipped" | undefined;
  /** ISO-8601 bounds on `started_at` (inclusive from, exclusive until). */
  readonly from?: string | undefined;
  readonly until?: string | undefined;
  readonly limit?: number | undefined;
  readonly offset?: number | undefined;
}

/** A run as `sluice runs --json` prints it (the stored report). */
export type RunDocument = Record<string, unknown>;

const STATUSES = new Set(["succeeded", "failed", "skipped"]);

/** The WHERE clause of a run filter; throws USAGE on a value that cannot be a status or a time. Pure. */
export function runWhereSql(filter: RunFilter): string {
  const where: string[] = [];
  if (filter.runId) where.push(`run_id = ${quoteLiteral(filter.runId)}`);
  if (filter.pipeline) where.push(`pipeline = ${quoteLiteral(filter.pipeline)}`);
  if (filter.status) {
    if (!STATUSES.has(filter.status)) {
      throw new SluiceError("USAGE", `status ${filter.status}: expected succeeded, failed or skipped`);
    }
    where.push(`status = ${quoteLiteral(filter.status)}`);
  }
  for (const [bound, op] of [
    ["from", ">="],
    ["until", "<"],
  ] as const) {
    const value = filter[bound];
    if (!value) continue;
    if (Number.isNaN(Date.parse(value))) {
      throw new SluiceError("USAGE", `${bound} ${value}: expected an ISO-8601 date or time`);
    }
    where.push(`started_at ${op} CAST(${quoteLiteral(new Date(value).toISOString())} AS TIMESTAMPTZ)`);
  }
  return where.length > 0 ? where.join(" AND ") : "true";
}

/** SQL listing run reports, newest first. Pure. */
export function runsSql(filter: RunFilter): string {
  const limit = Math.max(1, Math.trunc(filter.limit ?? 20));
  const offset = Math.max(0, Math.trunc(filter.offset ?? 0));
  return `SELECT CAST(report AS VARCHAR) AS report FROM sluice.runs WHERE ${runWhereSql(filter)} ORDER BY started_at DESC, run_id DESC LIMIT ${limit} OFFSET ${offset}`;
}

/**
 * Run reports matching a filter, newest first: the objects of `sluice runs --json`.
 *
 * @example
 * const runs = await listRuns(warehouse, { pipeline: "orders", limit: 50 });
 */
export async function listRuns(warehouse: CatalogReader, filter: RunFilter): Promise<RunDocument[]> {
  const rows = await warehouse.query(runsSql(filter));
  return rows.map((r) => JSON.parse(String(r.report)) as RunDocument);
}

/** One run's report, or undefined. */
export async function readRun(warehouse: CatalogReader, runId: string): Promise<RunDocument | undefined> {
  return (await listRuns(warehouse, { runId, limit: 1 }))[0];
}

/** Pipelines that have recorded runs, by name (from the run totals kept at publish: a few rows). */
export async function runPipelines(warehouse: CatalogReader): Promise<string[]> {
  const rows = await keptOrCounted(
    warehouse,
    "SELECT DISTINCT pipeline FROM sluice.run_totals ORDER BY pipeline",
    "SELECT DISTINCT pipeline FROM sluice.runs ORDER BY pipeline",
    "run_totals",
  );
  return rows.map((r) => String(r.pipeline));
}
