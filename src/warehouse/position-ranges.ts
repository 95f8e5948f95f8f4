/*
 * A stream batch's positions as ranges, claimed one row per range in `sluice.stream_claims` (see
 * stream-positions-sql.ts). A range [first, last] stands for every position of the stream between the two,
 * so it may only join positions with no other message of the stream between them:
 * - consecutive numbers: NATS stream sequences n and n + 1; Redis ids ms-k and ms-(k + 1) (no id exists
 *   between the two);
 * - a message the broker says directly follows another in the stream (`follows`: Redis entries of one
 *   XREADGROUP `>` reply, which are every entry of the stream between the first and the last of it).
 * Anything else starts a new range: a NATS subject filter's gaps, messages another worker sharing the
 * consumer got, redeliveries.
 */

/** Published positions from `first` to `last` (both included), one row of `sluice.stream_claims`. */
export interface PositionRange {
  readonly first: string;
  readonly last: string;
  /** How many of the batch's messages it holds. */
  readonly count: number;
}

/** A message's position, and the position the broker says comes right before it in the stream. */
export interface RangedPosition {
  readonly position: string;
  readonly follows?: string | undefined;
}

/** Digits of an unsigned 64-bit integer at most. */
const WIDTH = 20;

/**
 * The text that orders a position as a number, as positionKeySql (stream-floor-sql.ts) computes it in
 * SQL: a NATS sequence `n` as (n, 0), a Redis id `ms-seq` as (ms, seq), each part zero-padded to 20
 * digits. A string that is no position (no broker makes one) gets `~` and itself: above every number,
 * equal only to itself. Pure.
 *
 * @example
 * claimKey("7") // "00000000000000000007" + "00000000000000000000"
 */
export function claimKey(position: string): string {
  const match = /^(\d{1,20})(?:-(\d{1,20}))?$/.exec(position);
  if (!match) return `~${position}`;
  return match[1]!.padStart(WIDTH, "0") + (match[2] ?? "").padStart(WIDTH, "0");
}

/** A position taken apart once: its form, its first part as text, its last part as a number when exact. */
interface Parsed {
  readonly position: string;
  readonly follows: string | undefined;
  /** Sorts as the position's number (see claimKey); `~` first for a string that is no position. */
  readonly key: string;
  /** Redis `ms-seq` (else a NATS sequence, or no position). */
  readonly redis: boolean;
  /** Redis: the ms part, as text. */
  readonly major: string;
  /** The part that counts up (NATS: the sequence; Redis: seq), NaN beyond 15 digits or no position. */
  readonly minor: number;
}

function parse(position: string, follows: string | undefined): Parsed {
  const key = claimKey(position);
  const dash = position.indexOf("-");
  const redis = dash >= 0 && !key.startsWith("~");
  const minorText = redis ? position.slice(dash + 1) : position;
  return {
    position,
    follows,
    key,
    redis,
    major: redis ? position.slice(0, dash) : "",
    minor: !key.startsWith("~") && minorText.length <= 15 ? Number(minorText) : Number.NaN,
  };
}

/** Whether `b` is the position right after `a` (both of one form; see the top of this file). */
function successor(a: Parsed, b: Parsed): boolean {
  if (a.key.startsWith("~") || b.key.startsWith("~") || a.redis !== b.redis) return false;
  if (b.follows === a.position) return true;
  if (a.redis && a.major !== b.major) return false;
  if (!Number.isNaN(a.minor) && !Number.isNaN(b.minor)) return b.minor === a.minor + 1;
  // Beyond 15 digits: as BigInt, from the keys' counting parts.
  const part = a.redis ? WIDTH : 0;
  return BigInt(b.key.slice(part, part + WIDTH)) === BigInt(a.key.slice(part, part + WIDTH)) + 1n;
}

/**
 * The positions as ranges (see above), in position order; each position once. Pure.
 *
 * @example
 * positionRanges([{ position: "7" }, { position: "8" }, { position: "10" }])
 * // [{ first: "7", last: "8", count: 2 }, { first: "10", last: "10", count: 1 }]
 */
export function positionRanges(messages: readonly RangedPosition[]): PositionRange[] {
  const parsed = messages.map((m) => parse(m.position, m.follows));
  let sorted = true;
  for (let i = 1; i < parsed.length && sorted; i++) sorted = parsed[i - 1]!.key < parsed[i]!.key;
  if (!sorted) parsed.sort((x, y) => (x.key < y.key ? -1 : x.key > y.key ? 1 : 0));
  const ranges: PositionRange[] = [];
  let first: Parsed | undefined;
  let last: Parsed | undefined;
  let count = 0;
  for (const p of parsed) {
    if (last && p.key === last.key) continue;
    if (last && successor(last, p)) {
      last = p;
      count++;
      continue;
    }
    if (first && last) ranges.push({ first: first.position, last: last.position, count });
    first = p;
    last = p;
    count = 1;
  }
  if (first && last) ranges.push({ first: first.position, last: last.position, count });
  return ranges;
}
