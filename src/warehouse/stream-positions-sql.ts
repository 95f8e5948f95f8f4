import { quoteLiteral } from "../plan/sql-text.js";

/*
 * `sluice.stream_positions` (see catalog-schema.ts): the stream positions of each stream batch, by the
 * batch's ledger path. A position counts as published when its batch has a `loaded` row in
 * `sluice.files`, which the publish transaction writes with the batch's rows.
 */

/** INSERT of a batch's positions (undefined when there are none). Pure. */
export function streamPositionsInsertSql(
  pipeline: string,
  batch: string,
  positions: readonly string[],
): string | undefined {
  if (positions.length === 0) return undefined;
  const p = quoteLiteral(pipeline);
  const b = quoteLiteral(batch);
  return `INSERT INTO sluice.stream_positions (pipeline, position, batch) VALUES ${positions
    .map((position) => `(${p}, ${quoteLiteral(position)}, ${b})`)
    .join(", ")}`;
}

/** Which of `positions` belong to a published batch of the pipeline (column `position`). Pure. */
export function publishedPositionsSql(pipeline: string, positions: readonly string[]): string {
  const list = positions.length > 0 ? positions.map(quoteLiteral).join(", ") : "NULL";
  return `SELECT DISTINCT p.position FROM sluice.stream_positions p
    JOIN sluice.files f ON f.pipeline = p.pipeline AND f.path = p.batch AND f.status = 'loaded'
    WHERE p.pipeline = ${quoteLiteral(pipeline)} AND p.position IN (${list})`;
}
