import { quoteLiteral } from "../plan/sql-text.js";
import { claimKey, type PositionRange } from "./position-ranges.js";
import { atOrBelowFloorSql, floorKeySql } from "./stream-floor-sql.js";

/*
 * Which stream positions (NATS stream sequences, Redis entry ids) a pipeline has published.
 * `sluice.stream_claims` (see catalog-schema.ts) holds them as ranges (see position-ranges.ts), each
 * claimed by the publish transaction of its batch, which refuses a range overlapping one claimed before.
 * Two publishes of one pipeline never claim at once: on PostgreSQL the claim runs under the pipeline's
 * publish lock (an advisory lock every publish with a claim takes first), the embedded DuckDB warehouse
 * has one writer. The positions earlier builds claimed a row each (`sluice.stream_published`) are moved
 * into `stream_claims` when the catalog is opened (stream-claims-migration.ts). Catalogs of still earlier
 * builds hold `sluice.stream_positions` (positions recorded before the publish, published once their
 * batch has a `loaded` row in `sluice.files`): still read, no longer written. Both are pruned at or below
 * the pipeline's floor (`sluice.stream_floors`, see stream-floor-sql.ts): every position at or below it counts
 * as published, claimed or not.
 */

/**
 * Rows of text columns from parallel lists: one comma-separated literal per column, split by the database
 * (DuckDB parses a VALUES list of 10,000 rows several times slower), or a VALUES list when a value holds a
 * comma (neither NATS nor Redis makes one). Both databases unnest lists of one length side by side.
 */
function rowsSql(columns: readonly string[], values: readonly (readonly string[])[]): string {
  if (values[0]!.length === 0) return `SELECT ${columns.map((c) => `NULL AS ${c}`).join(", ")} WHERE false`;
  if (values.some((list) => list.some((v) => v.includes(",")))) {
    const rows = values[0]!.map((_, i) => `(${values.map((list) => quoteLiteral(list[i]!)).join(", ")})`);
    return `SELECT * FROM (VALUES ${rows.join(", ")}) AS v(${columns.join(", ")})`;
  }
  const lists = values.map(
    (list, c) => `unnest(string_to_array(${quoteLiteral(list.join(","))}, ',')) AS ${columns[c]}`,
  );
  return `SELECT ${lists.join(", ")}`;
}

/**
 * INSERT claiming a batch's position ranges: a range overlapping one the pipeline claimed before, or
 * starting at or below the pipeline's floor, is not inserted, so the rows changed say how many ranges were free (the
 * caller refuses the batch when one was not). The overlap test is sound as the claims never run at once
 * for one pipeline (see above); the primary key (pipeline, last_key) refuses a repeated range besides.
 * Undefined for none. Pure.
 */
export function streamClaimSql(
  pipeline: string,
  batch: string,
  ranges: readonly PositionRange[],
): string | undefined {
  if (ranges.length === 0) return undefined;
  const p = quoteLiteral(pipeline);
  const r = rowsSql(
    ["first_key", "last_key", "first_position", "last_position"],
    [
      ranges.map((x) => claimKey(x.first)),
      ranges.map((x) => claimKey(x.last)),
      ranges.map((x) => x.first),
      ranges.map((x) => x.last),
    ],
  );
  return `INSERT INTO sluice.stream_claims (pipeline, first_key, last_key, first_position, last_position, batch)
    SELECT ${p}, r.first_key, r.last_key, r.first_position, r.last_position, ${quoteLiteral(batch)} FROM (${r}) AS r
    WHERE r.first_key > ${floorKeySql(pipeline)}
    AND NOT EXISTS (SELECT 1 FROM sluice.stream_claims c WHERE c.pipeline = ${p} AND c.last_key >= r.first_key AND c.first_key <= r.last_key)`;
}

/**
 * Which of `positions` the pipeline has published (column `position`): in a claimed range, recorded by an
 * earlier build, or at or below its floor. The positions travel as one comma-separated literal (see
 * rowsSql): an `IN` list of 10,000 literals took DuckDB 0.5–1.4 s to parse on a loaded machine, the
 * literal ~20 ms. Pure.
 */
export function publishedPositionsSql(pipeline: string, positions: readonly string[]): string {
  const name = quoteLiteral(pipeline);
  const asked = rowsSql(["position", "key"], [positions, positions.map(claimKey)]);
  const list =
    positions.length === 0
      ? "NULL"
      : positions.some((position) => position.includes(","))
        ? positions.map(quoteLiteral).join(", ")
        : `SELECT unnest(string_to_array(${quoteLiteral(positions.join(","))}, ','))`;
  return `SELECT t.position FROM (${asked}) AS t WHERE EXISTS (SELECT 1 FROM sluice.stream_claims c WHERE c.pipeline = ${name} AND c.last_key >= t.key AND c.first_key <= t.key)
    UNION
    SELECT p.position FROM sluice.stream_positions p
    JOIN sluice.files f ON f.pipeline = p.pipeline AND f.path = p.batch AND f.status IN ('loaded', 'replaced')
    WHERE p.pipeline = ${name} AND p.position IN (${list})
    UNION
    SELECT t.position FROM (${asked}) AS t WHERE ${atOrBelowFloorSql(pipeline, "t.position")}`;
}

/**
 * Whether the pipeline has published any position (column `published`, a boolean): a floor counts, its
 * claims may all be pruned. Pure.
 */
export function anyPublishedSql(pipeline: string): string {
  const name = quoteLiteral(pipeline);
  return `SELECT (EXISTS (SELECT 1 FROM sluice.stream_claims WHERE pipeline = ${name})
    OR EXISTS (SELECT 1 FROM sluice.stream_positions WHERE pipeline = ${name})
    OR EXISTS (SELECT 1 FROM sluice.stream_floors WHERE pipeline = ${name})) AS published`;
}
