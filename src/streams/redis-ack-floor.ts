import type { Redis } from "ioredis";
import { comparePositions, redisIdBefore } from "../warehouse/stream-floor-sql.js";

/**
 * The acknowledgement floor of a Redis consumer group: the group delivers entries in id order, so every
 * entry at or below its last delivered id was delivered, and one not pending (XPENDING) was acknowledged.
 * The floor is the last delivered id, or the id right before the oldest pending entry when that is lower.
 * The group is read before its pending entries: an entry delivered between the two reads is pending by
 * the second and holds the floor below it (the other order could miss it). Null when the group has
 * delivered nothing, or is missing.
 *
 * @example
 * const floor = await redisAckFloor(redis, "events", "sluice"); // "1700000000000-41" or null
 */
export async function redisAckFloor(redis: Redis, key: string, group: string): Promise<string | null> {
  const groups = (await redis.xinfo("GROUPS", key)) as unknown[][];
  let lastDelivered: string | undefined;
  for (const g of groups) {
    const info = new Map<string, unknown>();
    for (let i = 0; i + 1 < g.length; i += 2) info.set(String(g[i]), g[i + 1]);
    if (info.get("name") === group) lastDelivered = String(info.get("last-delivered-id") ?? "0-0");
  }
  if (lastDelivered === undefined || lastDelivered === "0-0") return null;
  // Summary form: [count, smallest pending id, greatest pending id, consumers].
  const [count, smallest] = (await redis.xpending(key, group)) as [number, string | null, ...unknown[]];
  if (Number(count) === 0 || !smallest) return lastDelivered;
  const before = redisIdBefore(smallest);
  if (before === null) return null;
  return comparePositions(before, lastDelivered) < 0 ? before : lastDelivered;
}
