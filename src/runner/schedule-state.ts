import { quoteLiteral } from "../plan/sql-text.js";
import type { Warehouse } from "../warehouse/warehouse.js";

const DDL = `CREATE TABLE IF NOT EXISTS sluice.schedules (
  pipeline VARCHAR PRIMARY KEY, last_fire TIMESTAMPTZ NOT NULL, recorded_at TIMESTAMPTZ NOT NULL)`;

/**
 * The last schedule time of every scheduled pipeline, as stored in the catalog (`sluice.schedules`),
 * so a restarted daemon knows which run it missed.
 *
 * @example
 * const last = await readLastFires(warehouse); // Map { "orders" => 2026-01-03T02:00:00Z }
 */
export async function readLastFires(warehouse: Warehouse): Promise<Map<string, Date>> {
  await warehouse.engine.run(DDL);
  const rows = await warehouse.query(
    "SELECT pipeline, epoch_ms(last_fire) AS at FROM sluice.schedules ORDER BY pipeline",
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
  await warehouse.engine.run(DDL);
  await warehouse.engine.run(
    `INSERT OR REPLACE INTO sluice.schedules VALUES (${quoteLiteral(pipeline)}, ${quoteLiteral(at.toISOString())}::TIMESTAMPTZ, now())`,
  );
}
