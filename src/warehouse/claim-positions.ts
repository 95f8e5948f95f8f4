import { SluiceError } from "../errors.js";
import { streamClaimSql } from "./stream-positions-sql.js";
import type { PositionClaim } from "./warehouse.js";
import type { SqlSession } from "./write-batch.js";

/**
 * Claims a publish's stream positions in its transaction (see {@link PositionClaim}): one row per range
 * in `sluice.stream_claims`, refused when it overlaps a range claimed before (stream-positions-sql.ts); then
 * runs what follows the claim (the lake commit). On PostgreSQL the caller holds the pipeline's publish
 * lock, so a claim still in flight is waited for: of two publishes of one position the second finds it
 * taken once the first commits, and fails here with STREAM_CONFLICT, before it writes anything anywhere;
 * the transaction then rolls back.
 *
 * @example
 * await claimPositions(session, "events", { batches: [{ batch: "stream:events/7-kx", positions: [{ first: "7", last: "8", count: 2 }] }] });
 */
export async function claimPositions(
  session: SqlSession,
  pipeline: string,
  claim: PositionClaim | undefined,
): Promise<void> {
  if (!claim) return;
  for (const { batch, positions: ranges } of claim.batches) {
    const sql = streamClaimSql(pipeline, batch, ranges);
    if (!sql) continue;
    const claimed = await session.exec(sql);
    if (claimed < ranges.length) {
      const count = ranges.reduce((n, r) => n + r.count, 0);
      throw new SluiceError(
        "STREAM_CONFLICT",
        `${batch}: ${ranges.length - claimed} of its ${ranges.length} range(s) of stream positions (${count} position(s) in all) were published meanwhile by another worker sharing the consumer; the batch is published again without them`,
      );
    }
  }
  await claim.afterClaim?.();
}
