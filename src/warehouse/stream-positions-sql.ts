import { quoteLiteral } from "../plan/sql-text.js";
import { atOrBelowFloorSql } from "./stream-floor-sql.js";

/*
 * Which stream positions (NATS stream sequences, Redis entry ids) a pipeline has published.
 * `sluice.stream_published` (see catalog-schema.ts) holds each published position once: the publish
 * transaction of its batch claims it there, its primary key (pipeline, position) refusing a second claim.
 * Catalogs of earlier builds also hold `sluice.stream_positions`, positions recorded before the publish,
 * which count as published when their batch has a `loaded` row in `sluice.files`; they are still read.
 * Both are pruned at or below the pipeline's floor (`sluice.stream_floors`, see stream-floor-sql.ts):
 * every position at or below it counts as published, claimed or not.
 */

/**
 * INSERT claiming positions for a batch: a position already claimed is left as it is (ON CONFLICT DO
 * NOTHING), so the rows changed say how many were free. Sorted, so that two transactions claiming
 * overlapping positions wait for each other in one order (no deadlock). The positions travel as one
 * comma-separated literal split by the database (DuckDB parses a VALUES list of 10,000 rows several times
 * slower); a position holding a comma (neither NATS nor Redis makes one) makes it a VALUES list.
 * A position at or below the pipeline's floor is published (its claim may be pruned): it is not taken
 * either. Undefined for none. Pure.
 */
export function streamPositionsClaimSql(
  pipeline: string,
  batch: string,
  positions: readonly string[],
): string | undefined {
  if (positions.length === 0) return undefined;
  const p = quoteLiteral(pipeline);
  const b = quoteLiteral(batch);
  const sorted = [...positions].sort();
  const into = "INSERT INTO sluice.stream_published (pipeline, position, batch)";
  const above = `NOT ${atOrBelowFloorSql(pipeline, "t.position")}`;
  if (sorted.some((position) => position.includes(","))) {
    const rows = sorted.map((position) => `(${quoteLiteral(position)})`);
    return `${into} SELECT ${p}, t.position, ${b} FROM (VALUES ${rows.join(", ")}) AS t(position) WHERE ${above} ON CONFLICT DO NOTHING`;
  }
  const list = quoteLiteral(sorted.join(","));
  return `${into} SELECT ${p}, t.position, ${b} FROM unnest(string_to_array(${list}, ',')) AS t(position) WHERE ${above} ON CONFLICT DO NOTHING`;
}

/**
 * Which of `positions` the pipeline has published (column `position`): claimed, or at or below its floor.
 * The positions travel as one
 * comma-separated literal, as in {@link streamPositionsClaimSql}: an `IN` list of 10,000 literals took
 * DuckDB 0.5–1.4 s to parse on a loaded machine, the literal ~20 ms. Pure.
 */
export function publishedPositionsSql(pipeline: string, positions: readonly string[]): string {
  const name = quoteLiteral(pipeline);
  const list =
    positions.length === 0
      ? "NULL"
      : positions.some((position) => position.includes(","))
        ? positions.map(quoteLiteral).join(", ")
        : `SELECT unnest(string_to_array(${quoteLiteral(positions.join(","))}, ','))`;
  return `SELECT position FROM sluice.stream_published WHERE pipeline = ${name} AND position IN (${list})
    UNION
    SELECT p.position FROM sluice.stream_positions p
    JOIN sluice.files f ON f.pipeline = p.pipeline AND f.path = p.batch AND f.status IN ('loaded', 'replaced')
    WHERE p.pipeline = ${name} AND p.position IN (${list})
    UNION
    SELECT t.position FROM (${floorList(positions)}) AS t(position) WHERE ${atOrBelowFloorSql(pipeline, "t.position")}`;
}

/** The positions as rows of one column (for a FROM). */
function floorList(positions: readonly string[]): string {
  if (positions.length === 0) return "SELECT NULL WHERE false";
  if (positions.some((position) => position.includes(",")))
    return `VALUES ${positions.map((position) => `(${quoteLiteral(position)})`).join(", ")}`;
  return `SELECT unnest(string_to_array(${quoteLiteral(positions.join(","))}, ','))`;
}

/**
 * Whether the pipeline has published any position (column `published`, a boolean): a floor counts, its
 * claims may all be pruned. Pure.
 */
export function anyPublishedSql(pipeline: string): string {
  const name = quoteLiteral(pipeline);
  return `SELECT (EXISTS (SELECT 1 FROM sluice.stream_published WHERE pipeline = ${name})
    OR EXISTS (SELECT 1 FROM sluice.stream_positions WHERE pipeline = ${name})
    OR EXISTS (SELECT 1 FROM sluice.stream_floors WHERE pipeline = ${name})) AS published`;
}
