import { afterAll, describe, expect, it } from "vitest";
import { makeProject, sluice } from "../support/cli.js";
import { serviceAvailable } from "../support/require-service.js";
import { killWorkerRepeatedly, queryRows } from "../support/stream-worker.js";
import {
  createNatsStream,
  deleteNatsStream,
  eventPayloads,
  natsUrl,
  pingNats,
  pingRedis,
  publishNats,
  publishRedis,
  redisClient,
  redisUrl,
  uniqueName,
} from "../support/streams.js";

// npm test runs 40,000 messages, to keep its time; the scale is SLUICE_STREAM_KILL_MESSAGES=200000
// (its duration is in bench/README.md). 40 batches: a kill round waits for one published batch, so ten
// rounds must leave part of the stream for the run to idle.
const TOTAL = Number(process.env.SLUICE_STREAM_KILL_MESSAGES ?? 40_000);
const KILLS = Number(process.env.SLUICE_STREAM_KILLS ?? 10);
const MAX_ROWS = Math.max(500, Math.round(TOTAL / 40));
const POISON_EVERY = 97;
const POISON = Math.floor(TOTAL / POISON_EVERY);

const natsAvailable = await serviceAvailable(`NATS JetStream at ${natsUrl}`, pingNats);
const redisAvailable = await serviceAvailable(`Redis at ${redisUrl}`, pingRedis);
const STREAM = uniqueName("KILLSCALE").toUpperCase();
const SUBJECT = STREAM.toLowerCase();
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
async function killThenDrain(dir: string): Promise<void> {
  await killWorkerRepeatedly(dir, KILLS);
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

describe.skipIf(!natsAvailable)(`kill -9 of sluice worker at scale (NATS, ${TOTAL} messages)`, () => {
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
    await killThenDrain(dir);
  }, 900_000);
});

// npm test keeps its time: Redis at scale runs with SLUICE_STREAM_KILL_MESSAGES set; without it, the Redis
// kill test of stream-redis.test.ts covers kill -9 and XAUTOCLAIM takeover.
const redisAtScale = process.env.SLUICE_STREAM_KILL_MESSAGES !== undefined;

describe.skipIf(!redisAvailable || !redisAtScale)(
  `kill -9 of sluice worker at scale (Redis, ${TOTAL} entries)`,
  () => {
    afterAll(async () => {
      const r = redisClient();
      await r.del(REDIS_KEY);
      r.disconnect();
    });

    it(`publishes ${TOTAL} entries (1% poison) exactly once across ${KILLS} kills`, async () => {
      await publishRedis(REDIS_KEY, eventPayloads(TOTAL, POISON_EVERY));
      // A consumer name per worker process (the default): entries a killed one held are claimed once idle.
      const dir = makeProject(
        projectYaml(
          `{ kind: redis, url: "${redisUrl}", key: "${REDIS_KEY}", group: sluice, claim_idle: 2s }`,
        ),
      );
      await killThenDrain(dir);
    }, 900_000);
  },
);
