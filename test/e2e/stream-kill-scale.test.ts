import { afterAll, describe, expect, it } from "vitest";
import { makeProject, sluice } from "../support/cli.js";
import { killWorkerRepeatedly, queryRows } from "../support/stream-worker.js";
import {
  createNatsStream,
  deleteNatsStream,
  deleteRedisKeys,
  eventPayloads,
  natsAvailable,
  natsTestStream,
  natsUnacknowledged,
  natsUrl,
  publishNats,
  publishRedis,
  redisAvailable,
  redisUnacknowledged,
  redisUrl,
  uniqueName,
} from "../support/streams.js";

// npm test runs 10,000 messages, to keep its time; the scale is SLUICE_STREAM_KILL_MESSAGES=200000
// (its duration is in bench/README.md). What exactly once under kill -9 depends on is where the kills land
// (a batch's pull, publish or ack), not on how many rows a batch holds: any size cut into 40 batches
// takes the same ten kills mid-stream (a kill round waits for one published batch, so ten rounds leave
// part of the stream for the run to idle; `killThenDrain` checks that they did). A batch of 250 rows
// takes about 0.7 of the time of one of 1,000 (a batch's fixed cost dominates), so the random moment of a
// kill is drawn from 0.6 s after a round's first batch instead of 1.5 s. On a fast machine ten rounds
// could still drain 40 batches before the last kill (a CI run saw every message published before the
// drain): the killed workers hold each publish 200 ms (SLUICE_PUBLISH_DELAY_MS), so a round takes about
// 2-3 batches whatever the machine's speed, and a round that finds the stream drained fails, named.
const TOTAL = Number(process.env.SLUICE_STREAM_KILL_MESSAGES ?? 10_000);
const KILLS = Number(process.env.SLUICE_STREAM_KILLS ?? 10);
const MAX_ROWS = Math.max(250, Math.round(TOTAL / 40));
const POISON_EVERY = 97;
const POISON = Math.floor(TOTAL / POISON_EVERY);

const natsUp = await natsAvailable();
const redisUp = await redisAvailable();
const { stream: STREAM, subject: SUBJECT } = natsTestStream("KILLSCALE");
const REDIS_KEY = uniqueName("sluice_kill_scale_test");

function projectYaml(stream: string): string {
  return `warehouse: duckdb:warehouse.duckdb
landing: landing
pipelines:
  events:
    source:
      stream: ${stream}
      batch: { max_rows: ${MAX_ROWS}, max_wait: 300ms }
    columns:
      id: { type: bigint }
    checks:
      - { rule: not_null, columns: [id] }
    target: { table: events }
`;
}

/** Kills mid-stream, then a worker to idle: every good message once, every poison one once. */
async function killThenDrain(dir: string, pending: () => Promise<number>): Promise<void> {
  await killWorkerRepeatedly(dir, KILLS, {
    jitterMs: TOTAL >= 40_000 ? 1_500 : 600,
    env: { SLUICE_PUBLISH_DELAY_MS: "200" },
    pending,
  });
  // The kills came mid-stream: some of it was loaded, not all.
  const [before] = await queryRows<{ n: number }>(dir, "SELECT count(*) AS n FROM events");
  expect(before!.n).toBeGreaterThan(0);
  expect(before!.n).toBeLessThan(TOTAL - POISON);
  const rest = await sluice(["worker", "--exit-when-idle", "6s"], dir, { timeoutMs: 400_000 });
  expect(rest.code, rest.stderr).toBe(0);
  const [counts] = await queryRows<{ n: number; ids: number; lo: number; hi: number }>(
    dir,
    "SELECT count(*) AS n, count(DISTINCT id) AS ids, min(id) AS lo, max(id) AS hi FROM events",
  );
  expect(counts).toEqual({ n: TOTAL - POISON, ids: TOTAL - POISON, lo: 1, hi: TOTAL });
  const [q] = await queryRows<{ n: number; distinct_raw: number }>(
    dir,
    "SELECT count(*) AS n, count(DISTINCT raw) AS distinct_raw FROM sluice.quarantine WHERE pipeline = 'events'",
  );
  expect(q).toEqual({ n: POISON, distinct_raw: POISON });
}

describe.skipIf(!natsUp)(`kill -9 of sluice worker at scale (NATS, ${TOTAL} messages)`, () => {
  afterAll(async () => {
    await deleteNatsStream(STREAM);
  });

  it(`publishes ${TOTAL} messages (1% poison) exactly once across ${KILLS} kills`, async () => {
    await createNatsStream(STREAM, SUBJECT);
    await publishNats(`${SUBJECT}.a`, eventPayloads(TOTAL, POISON_EVERY));
    const dir = makeProject(
      projectYaml(
        `{ kind: nats, url: "${natsUrl}", stream: ${STREAM}, subject: "${SUBJECT}.a", durable: scale, ack_wait: 5s }`,
      ),
    );
    await killThenDrain(dir, () => natsUnacknowledged(STREAM, "scale"));
  }, 900_000);
});

// npm test keeps its time: Redis at scale runs with SLUICE_STREAM_KILL_MESSAGES set; without it, the Redis
// kill test of stream-redis.test.ts covers kill -9 and XAUTOCLAIM takeover.
const redisAtScale = process.env.SLUICE_STREAM_KILL_MESSAGES !== undefined;

describe.skipIf(!redisUp || !redisAtScale)(
  `kill -9 of sluice worker at scale (Redis, ${TOTAL} entries)`,
  () => {
    afterAll(async () => {
      await deleteRedisKeys([REDIS_KEY]);
    });

    it(`publishes ${TOTAL} entries (1% poison) exactly once across ${KILLS} kills`, async () => {
      await publishRedis(REDIS_KEY, eventPayloads(TOTAL, POISON_EVERY));
      // A consumer name per worker process (the default): entries a killed one held are claimed once idle.
      const dir = makeProject(
        projectYaml(
          `{ kind: redis, url: "${redisUrl}", key: "${REDIS_KEY}", group: sluice, claim_idle: 2s }`,
        ),
      );
      await killThenDrain(dir, () => redisUnacknowledged(REDIS_KEY, "sluice"));
    }, 900_000);
  },
);
