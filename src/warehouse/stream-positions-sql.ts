import { quoteLiteral } from "../plan/sql-text.js";

/*
 * Which stream positions (NATS stream sequences, Redis entry ids) a pipeline has published.
 * `sluice.stream_published` (see catalog-schema.ts) holds each published position once: the publish
 * transaction of its batch claims it there, its primary key (pipeline, position) refusing a second claim.
 * Catalogs of earlier builds also hold `sluice.stream_positions`, positions recorded before the publish,
 * which count as published when their batch has a `loaded` row in `sluice.files`; they are still read.
 */

/**
 * INSERT claiming positions for a batch: a position already claimed is left as it is (ON CONFLICT DO
 * NOTHING), so the rows changed say how many were free. Sorted, so that two transactions claiming
 * overlapping positions wait for each other in one order (no deadlock). Undefined for none. Pure.
 */
export function streamPositionsClaimSql(
  pipeline: string,
  batch: string,
  positions: readonly string[],
): string | undefined {
  if (positions.length === 0) return undefined;
  const p = quoteLiteral(pipeline);
  const b = quoteLiteral(batch);
  return `INSERT INTO sluice.stream_published (pipeline, position, batch) VALUES ${[...positions]
    .sort()
    .map((position) => `(${p}, ${quoteLiteral(position)}, ${b})`)
    .join(", ")} ON CONFLICT DO NOTHING`;
}

/** Which of `positions` the pipeline has published (column `position`). Pure. */
export function publishedPositionsSql(pipeline: string, positions: readonly string[]): string {
  const list = positions.length > 0 ? positions.map(quoteLiteral).join(", ") : "NULL";
  const name = quoteLiteral(pipeline);
  return `SELECT position FROM sluice.stream_published WHERE pipeline = ${name} AND position IN (${list})
    UNION
    SELECT p.position FROM sluice.stream_positions p
    JOIN sluice.files f ON f.pipeline = p.pipeline AND f.path = p.batch AND f.status = 'loaded'
    WHERE p.pipeline = ${name} AND p.position IN (${list})`;
}
