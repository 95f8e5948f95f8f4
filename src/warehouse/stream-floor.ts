import { pruneBelowFloorSql, recordFloorSql } from "./stream-floor-sql.js";
import type { SqlSession } from "./write-batch.js";

/**
 * Records a stream pipeline's floor (kept when the stored one is higher) and deletes its claims at or
 * below the floor then stored, in the caller's transaction (see stream-floor-sql.ts); the claims
 * deleted. A PostgreSQL caller holds the pipeline's publish lock: a publish claiming meanwhile sees
 * either the claims or the floor, never neither.
 *
 * @example
 * const pruned = await recordStreamFloor(session, "events", "41200");
 */
export async function recordStreamFloor(
  session: SqlSession,
  pipeline: string,
  floor: string,
): Promise<number> {
  await session.exec(recordFloorSql(pipeline, floor));
  let pruned = 0;
  for (const sql of pruneBelowFloorSql(pipeline)) pruned += await session.exec(sql);
  return pruned;
}
