import { positionKeySql } from "./stream-floor-sql.js";

/**
 * Moves the positions an earlier build claimed one row each (`sluice.stream_published`) into
 * `sluice.stream_claims`, a range of one position each (keyed as claimKey keys them), when a catalog is
 * opened for writing. So the claim of a batch needs to look at `stream_claims` only. Idempotent (a range
 * already there is kept), so a setup interrupted between the two statements completes at the next open;
 * the prune soon deletes the moved rows. A worker of an earlier build still running against the catalog
 * claims in the old table unseen: upgrade every worker sharing a consumer at once. Pure.
 *
 * @example
 * for (const sql of streamClaimsMigrationSql()) await con.run(sql);
 */
export function streamClaimsMigrationSql(): string[] {
  // As claimKey: a position is keyed as a number, any other string as `~` and itself.
  const key = `CASE WHEN position SIMILAR TO '[0-9]{1,20}(-[0-9]{1,20})?' THEN ${positionKeySql("position")} ELSE '~' || position END`;
  return [
    `INSERT INTO sluice.stream_claims (pipeline, first_key, last_key, first_position, last_position, batch, published_at)
      SELECT pipeline, k, k, position, position, batch, published_at
      FROM (SELECT pipeline, position, batch, published_at, ${key} AS k FROM sluice.stream_published) AS s
      ON CONFLICT DO NOTHING`,
    "DELETE FROM sluice.stream_published",
  ];
}
