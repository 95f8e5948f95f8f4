import { SluiceError } from "../errors.js";
import { streamPositionsClaimSql } from "./stream-positions-sql.js";
import type { PositionClaim } from "./warehouse.js";
import type { SqlSession } from "./write-batch.js";

/**
 * Claims a publish's stream positions in its transaction (see {@link PositionClaim}), then runs what
 * follows the claim (the lake commit). A position another transaction claimed is not taken again: on
 * PostgreSQL a claim still in flight is waited for (its row is locked until that transaction ends), so
 * of two publishes of one position the second finds it taken once the first commits, and fails here with
 * STREAM_CONFLICT, before it writes anything anywhere; the transaction then rolls back.
 *
 * @example
 * await claimPositions(session, "events", { batches: [{ batch: "stream:events/7-kx", positions: ["7", "8"] }] });
 */
export async function claimPositions(
  session: SqlSession,
  pipeline: string,
  claim: PositionClaim | undefined,
): Promise<void> {
  if (!claim) return;
  for (const { batch, positions } of claim.batches) {
    const sql = streamPositionsClaimSql(pipeline, batch, positions);
    if (!sql) continue;
    const claimed = await session.exec(sql);
    if (claimed < positions.length) {
      throw new SluiceError(
        "STREAM_CONFLICT",
        `${batch}: ${positions.length - claimed} of its ${positions.length} stream position(s) were published meanwhile by another worker sharing the consumer; the batch is published again without them`,
      );
    }
  }
  await claim.afterClaim?.();
}
