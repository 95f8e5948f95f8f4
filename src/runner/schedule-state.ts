import { quoteLiteral } from "../plan/sql-text.js";
import type { Warehouse } from "../warehouse/warehouse.js";

// `sluice.schedules` is part of the catalog (created with it, on DuckDB and PostgreSQL alike); the SQL
// here is what both dialects understand, run on the warehouse itself (never on a PostgreSQL warehouse's
// staging engine, which has no catalog).

/**
 * The last schedule time of every scheduled pipeline, as stored in the catalog (`sluice.schedules`),
 * so a restarted daemon knows which run it missed.
 *
 * @example
 * const last = await readLastFires(warehouse); // Map { "orders" => 2026-01-03T02:00:00Z }
 */
export async function readLastFires(warehouse: Warehouse): Promise<Map<string, Date>> {
  const rows = await warehouse.query(
    "SELECT pipeline, CAST(round(extract(epoch FROM last_fire) * 1000) AS BIGINT) AS at FROM sluice.schedules ORDER BY pipeline",
  );
  return new Map(rows.map((r) => [String(r.pipeline), new Date(Number(r.at))]));
}

/**
 * Stores a pipeline's last schedule time (durably: it survives a daemon restart).
 *
 * @example
 * await recordFire(warehouse, "orders", new Date("2026-01-03T02:00:00Z"));
 */
export async function recordFire(warehouse: Warehouse, pipeline: string, at: Date): Promise<void> {
  await warehouse.query(
    `INSERT INTO sluice.schedules (pipeline, last_fire, recorded_at) VALUES (${quoteLiteral(pipeline)}, CAST(${quoteLiteral(at.toISOString())} AS TIMESTAMPTZ), now())
     ON CONFLICT (pipeline) DO UPDATE SET last_fire = excluded.last_fire, recorded_at = excluded.recorded_at`,
  );
}
