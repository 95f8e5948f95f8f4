import { afterAll, describe, expect, it } from "vitest";
import { redisStream } from "../../src/streams/redis-stream.js";
import type { StreamSource } from "../../src/streams/stream-source.js";
import { expectAgedWhenAsked } from "../support/stream-lag-age.js";
import {
  deleteRedisKeys,
  eventPayloads,
  publishRedis,
  redisAvailable,
  redisUrl,
  uniqueName,
} from "../support/streams.js";

const available = await redisAvailable();
const PREFIX = uniqueName("sluice_redis_stream_test");

describe.skipIf(!available)("Redis Streams source", () => {
  const open: StreamSource[] = [];
  const source = (key: string, consumer: string, claimIdle = "30s"): StreamSource => {
    const s = redisStream(
      { url: redisUrl, key: `${PREFIX}:${key}`, group: "sluice", claim_idle: claimIdle },
      { consumer },
    );
    open.push(s);
    return s;
  };
  afterAll(async () => {
    for (const s of open) await s.close();
    await deleteRedisKeys([], `${PREFIX}:*`);
  });

  it("ages the batch's oldest message when the lag is asked, not when the pull ended", async () => {
    await publishRedis(`${PREFIX}:age`, eventPayloads(5));
    await expectAgedWhenAsked(source("age", "a"));
  });

  it("closes a batch at max_rows, at max_bytes, or when nothing more comes within max_wait", async () => {
    await publishRedis(`${PREFIX}:sizes`, eventPayloads(300));
    const s = source("sizes", "a");
    await s.connect();
    const byRows = await s.pull({ maxRows: 100, maxBytes: 16 << 20, maxWaitMs: 5_000 });
    expect(byRows).toHaveLength(100);
    // Each batch is acknowledged before the next pull (unacknowledged ones are read again first).
    await s.ack(byRows.map((m) => m.position));
    const size = byRows[0]!.data.length;
    const byBytes = await s.pull({ maxRows: 10_000, maxBytes: size * 10, maxWaitMs: 5_000 });
    expect(byBytes).toHaveLength(10);
    await s.ack(byBytes.map((m) => m.position));
    const byTime = await s.pull({ maxRows: 10_000, maxBytes: 16 << 20, maxWaitMs: 500 });
    expect(byTime).toHaveLength(190);
    await s.ack(byTime.map((m) => m.position));
    expect(await s.pull({ maxRows: 10_000, maxBytes: 16 << 20, maxWaitMs: 200 })).toEqual([]);
    expect((await s.lag()).pending).toBe(0);
  });

  it("takes over, with XAUTOCLAIM, entries a dead consumer left pending", async () => {
    await publishRedis(`${PREFIX}:claim`, eventPayloads(50));
    const dead = source("claim", "dead", "300ms");
    await dead.connect();
    const taken = await dead.pull({ maxRows: 30, maxBytes: 16 << 20, maxWaitMs: 1_000 });
    expect(taken).toHaveLength(30);
    // The dead consumer never acknowledges; the live one, once they are idle long enough, claims them.
    await new Promise((r) => setTimeout(r, 400));
    const live = source("claim", "live", "300ms");
    await live.connect();
    const got = await live.pull({ maxRows: 1_000, maxBytes: 16 << 20, maxWaitMs: 500 });
    expect(got.filter((m) => m.redelivered).map((m) => m.position)).toEqual(taken.map((m) => m.position));
    expect(got.filter((m) => !m.redelivered)).toHaveLength(20);
    await live.ack(got.map((m) => m.position));
    expect((await live.lag()).pending).toBe(0);
  });

  it("reads its own unacknowledged entries first after a restart under the same name", async () => {
    await publishRedis(`${PREFIX}:own`, eventPayloads(10));
    const before = source("own", "same");
    await before.connect();
    const pulled = await before.pull({ maxRows: 100, maxBytes: 16 << 20, maxWaitMs: 500 });
    await before.close();
    const after = source("own", "same");
    await after.connect();
    const again = await after.pull({ maxRows: 100, maxBytes: 16 << 20, maxWaitMs: 200 });
    expect(again.map((m) => m.position)).toEqual(pulled.map((m) => m.position));
    expect(again.every((m) => m.redelivered)).toBe(true);
  });

  it("holds an entry once in a batch when its own pending entries are also idle long enough to claim", async () => {
    await publishRedis(`${PREFIX}:mine`, eventPayloads(5));
    const s = source("mine", "self", "100ms");
    await s.connect();
    const first = await s.pull({ maxRows: 100, maxBytes: 16 << 20, maxWaitMs: 200 });
    expect(first).toHaveLength(5);
    // Not acknowledged and past claim_idle: its own pending entries and XAUTOCLAIM both offer them, but
    // this source still holds them (the worker pulls the next batch while one publishes): not again.
    await new Promise((r) => setTimeout(r, 1_200));
    expect(await s.pull({ maxRows: 100, maxBytes: 16 << 20, maxWaitMs: 200 })).toEqual([]);
    // Restarted under the same name: read as its own pending entries and claimed, each held once.
    await s.close();
    const restarted = source("mine", "self", "100ms");
    await restarted.connect();
    const again = await restarted.pull({ maxRows: 100, maxBytes: 16 << 20, maxWaitMs: 200 });
    expect(again.map((m) => m.position)).toEqual(first.map((m) => m.position));
    await restarted.ack(again.map((m) => m.position));
  });

  it("says which server it could not reach without the password of its URL", async () => {
    const s = redisStream(
      { url: "redis://:hunter2-secret@127.0.0.1:1", key: "k", group: "g", claim_idle: "30s" },
      { consumer: "c" },
    );
    const error = await s.connect().then(
      () => undefined,
      (e: unknown) => e as Error,
    );
    expect(error?.message).toMatch(/redis redis:\/\/\*\*\*@127\.0\.0\.1:1 .*cannot connect/);
    expect(JSON.stringify({ m: error?.message, s: error?.stack })).not.toContain("hunter2");
  });
});
