import { pruneByRebuild } from "./prune-by-rebuild.js";
import { pruneBelowFloor, recordFloorSql } from "./stream-floor-sql.js";
import type { SqlSession } from "./write-batch.js";

/**
 * Records a stream pipeline's floor (kept when the stored one is higher) and deletes its claims at or
 * below the floor then stored, in the caller's transaction (see stream-floor-sql.ts); the claims
 * deleted. A PostgreSQL caller holds the pipeline's publish lock: a publish claiming meanwhile sees
 * either the claims or the floor, never neither. A warehouse with one writer (DuckDB) passes
 * `oneWriter`: a large prune then rebuilds the claims' table (see pruneByRebuild).
 *
 * @example
 * const pruned = await recordStreamFloor(session, "events", "41200");
 */
export async function recordStreamFloor(
  session: SqlSession,
  pipeline: string,
  floor: string,
  options: { readonly oneWriter?: boolean } = {},
): Promise<number> {
  await session.exec(recordFloorSql(pipeline, floor));
  let pruned = 0;
  for (const { table, where } of pruneBelowFloor(pipeline)) {
    pruned += options.oneWriter
      ? await pruneByRebuild(session, table, where)
      : await session.exec(`DELETE FROM sluice.${table} WHERE ${where}`);
  }
  return pruned;
}
