import { quoteLiteral } from "../plan/sql-text.js";

/*
 * A pipeline's "published through" floor (`sluice.stream_floors`): every stream position at or below it
 * is published. The broker says so (a position is acknowledged only once published, see
 * StreamSource.publishedThrough); the worker records it and prunes the claims at or below it from
 * `sluice.stream_claims` (and `stream_positions` of earlier builds), so the ledger keeps only the
 * positions above it. Positions compare as numbers: a NATS stream sequence as (sequence, 0), a Redis entry id `ms-seq` as
 * (ms, seq). Both parts are unsigned 64-bit integers (at most 20 digits), so in SQL each is zero-padded to
 * 20 digits and the two compared as text: the same in DuckDB and PostgreSQL, no integer type wide enough
 * needed.
 */

/** Digits of an unsigned 64-bit integer at most. */
const WIDTH = 20;

/**
 * A text expression ordering positions as numbers (see above) for the SQL expression `position`:
 * `lpad(ms, 20, '0') || lpad(seq, 20, '0')`. Pure.
 *
 * @example
 * positionKeySql("p.position") // "(lpad(split_part(p.position, '-', 1), 20, '0') || lpad(split_part(p.position, '-', 2), 20, '0'))"
 */
export function positionKeySql(position: string): string {
  return `(lpad(split_part(${position}, '-', 1), ${WIDTH}, '0') || lpad(split_part(${position}, '-', 2), ${WIDTH}, '0'))`;
}

/**
 * The sort key of the pipeline's floor ({@link positionKeySql}), `''` when it has none (below every key).
 * A scalar subquery, read once per statement. Pure.
 */
export function floorKeySql(pipeline: string): string {
  return `coalesce((SELECT ${positionKeySql("f.position")} FROM sluice.stream_floors f WHERE f.pipeline = ${quoteLiteral(pipeline)}), '')`;
}

/**
 * A condition true when the position expression `position` is at or below the pipeline's floor (false
 * when the pipeline has none). Pure.
 */
export function atOrBelowFloorSql(pipeline: string, position: string): string {
  return `${positionKeySql(position)} <= ${floorKeySql(pipeline)}`;
}

/**
 * Records a floor: the pipeline's floor becomes the greater of the stored one and `floor` (floors only
 * grow; workers sharing a consumer may report them out of order). In DO UPDATE the stored row is named
 * by its table (PostgreSQL finds a bare column ambiguous, DuckDB refuses a subquery there). Pure.
 */
export function recordFloorSql(pipeline: string, floor: string): string {
  return `INSERT INTO sluice.stream_floors (pipeline, position) VALUES (${quoteLiteral(pipeline)}, ${quoteLiteral(floor)})
    ON CONFLICT (pipeline) DO UPDATE SET position = excluded.position, recorded_at = now()
    WHERE ${positionKeySql("excluded.position")} > ${positionKeySql("stream_floors.position")}`;
}

/**
 * Each ledger table and the condition of the pipeline's rows pruned by its recorded floor: the ranges of
 * `stream_claims` whose last position is at or below it (a range across the floor is kept), the
 * positions of `stream_positions` (earlier builds). Pure.
 */
export function pruneBelowFloor(pipeline: string): { readonly table: string; readonly where: string }[] {
  const name = quoteLiteral(pipeline);
  return [
    { table: "stream_claims", where: `pipeline = ${name} AND last_key <= ${floorKeySql(pipeline)}` },
    { table: "stream_positions", where: `pipeline = ${name} AND ${atOrBelowFloorSql(pipeline, "position")}` },
  ];
}

/** The pipeline's recorded floor (column `position`; no row when none). Pure. */
export function floorSelectSql(pipeline: string): string {
  return `SELECT position FROM sluice.stream_floors WHERE pipeline = ${quoteLiteral(pipeline)}`;
}

/** A position as (major, minor): `7` → (7, 0), `1700000000000-3` → (1700000000000, 3). Undefined when not one. */
function parts(position: string): [bigint, bigint] | undefined {
  const match = /^(\d{1,20})(?:-(\d{1,20}))?$/.exec(position);
  if (!match) return undefined;
  return [BigInt(match[1]!), BigInt(match[2] ?? "0")];
}

/**
 * Orders two positions as numbers (negative, zero, positive), as {@link positionKeySql} orders them in
 * SQL. Throws on a string that is no position. Pure.
 */
export function comparePositions(a: string, b: string): number {
  const x = parts(a);
  const y = parts(b);
  if (!x || !y) throw new Error(`not a stream position: ${x ? b : a}`);
  if (x[0] !== y[0]) return x[0] < y[0] ? -1 : 1;
  return x[1] === y[1] ? 0 : x[1] < y[1] ? -1 : 1;
}

const U64_MAX = (1n << 64n) - 1n;

/**
 * The Redis entry id right before `id` (`5-3` → `5-2`, `5-0` → `4-18446744073709551615`), null before
 * `0-0`. Pure.
 */
export function redisIdBefore(id: string): string | null {
  const p = parts(id);
  if (!p) throw new Error(`not a Redis entry id: ${id}`);
  const [ms, seq] = p;
  if (seq > 0n) return `${ms}-${seq - 1n}`;
  if (ms > 0n) return `${ms - 1n}-${U64_MAX}`;
  return null;
}
