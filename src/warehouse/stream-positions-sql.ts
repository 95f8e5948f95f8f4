import { quoteLiteral } from "../plan/sql-text.js";

/*
 * `sluice.stream_positions` (see catalog-schema.ts): the stream positions of each stream batch, by the
 * batch's ledger path. A position counts as published when its batch has a `loaded` row in
 * `sluice.files`, which the publish transaction writes with the batch's rows.
 */

/**
 * INSERT of a batch's positions (undefined when there are none). Pure. The positions travel as one
 * comma-separated literal split by the warehouse (DuckDB and PostgreSQL both have `string_to_array`):
 * DuckDB parses a statement of 10,000 `VALUES` tuples slowly, one literal fast (see bench/README.md).
 */
export function streamPositionsInsertSql(
  pipeline: string,
  batch: string,
  positions: readonly string[],
): string | undefined {
  if (positions.length === 0) return undefined;
  const p = quoteLiteral(pipeline);
  const b = quoteLiteral(batch);
  // Stream sequences and Redis entry ids hold no comma; a position that does is listed as a tuple.
  if (positions.some((position) => position.includes(","))) {
    return `INSERT INTO sluice.stream_positions (pipeline, position, batch) VALUES ${positions
      .map((position) => `(${p}, ${quoteLiteral(position)}, ${b})`)
      .join(", ")}`;
  }
  return `INSERT INTO sluice.stream_positions (pipeline, position, batch) SELECT ${p}, unnest(string_to_array(${quoteLiteral(positions.join(","))}, ',')), ${b}`;
}

/** Which of `positions` belong to a published batch of the pipeline (column `position`). Pure. */
export function publishedPositionsSql(pipeline: string, positions: readonly string[]): string {
  const list = positions.length > 0 ? positions.map(quoteLiteral).join(", ") : "NULL";
  return `SELECT DISTINCT p.position FROM sluice.stream_positions p
    JOIN sluice.files f ON f.pipeline = p.pipeline AND f.path = p.batch AND f.status = 'loaded'
    WHERE p.pipeline = ${quoteLiteral(pipeline)} AND p.position IN (${list})`;
}
