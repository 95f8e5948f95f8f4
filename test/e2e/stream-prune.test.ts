import { jetstreamManager } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import { afterAll, describe, expect, it } from "vitest";
import { makeProject, sluice } from "../support/cli.js";
import { queryRows } from "../support/stream-worker.js";
import {
  deleteRedisKeys,
  eventPayloads,
  natsAvailable,
  natsTestStream,
  natsUrl,
  publishNats,
  publishRedis,
  redisAvailable,
  redisClient,
  redisUrl,
  streamAroundTests,
  uniqueName,
} from "../support/streams.js";

// The ledger of published positions is pruned below the consumer's acknowledgement floor (recorded in
// sluice.stream_floors), and the floor still recognises what was published: a consumer deleted and
// created again from the start of the stream publishes nothing twice.

const natsUp = await natsAvailable();
const redisUp = await redisAvailable();
const { stream: STREAM, subject: SUBJECT } = natsTestStream("PRUNE");
const KEY = `${uniqueName("sluice_prune_test")}:events`;
// Prunes after every batch, so that a short run prunes several times.
const env = { SLUICE_STREAM_PRUNE_BATCHES: "1" };

function projectYaml(stream: string): string {
  return `warehouse: duckdb:warehouse.duckdb
landing: landing
pipelines:
  events:
    source:
      stream: ${stream}
      batch: { max_rows: 500, max_wait: 300ms }
    columns:
      id: { type: bigint }
    target: { table: events }
`;
}

async function counts(dir: string) {
  const [c] = await queryRows<{ n: number; ids: number }>(
    dir,
    "SELECT count(*) AS n, count(DISTINCT id) AS ids FROM events",
  );
  return c;
}

/** The recorded floor and the claims left, at or below it and in all. */
async function ledger(dir: string) {
  const [floor] = await queryRows<{ position: string }>(
    dir,
    "SELECT position FROM sluice.stream_floors WHERE pipeline = 'events'",
  );
  // The claimed ranges left, by their last position (a range across the floor is kept).
  const positions = (
    await queryRows<{ position: string }>(
      dir,
      "SELECT last_position AS position FROM sluice.stream_claims WHERE pipeline = 'events'",
    )
  ).map((r) => r.position);
  return { floor: floor?.position, positions };
}

/** As numbers: a NATS sequence, a Redis id's (ms, seq). */
function key(position: string): bigint {
  const [ms, seq = "0"] = position.split("-");
  return (BigInt(ms!) << 64n) + BigInt(seq);
}

async function runWorker(dir: string) {
  const r = await sluice(["worker", "--exit-when-idle", "1s"], dir, { env, timeoutMs: 170_000 });
  expect(r.code, r.stderr).toBe(0);
  return r;
}

/** Publishes 2,000, consumes, checks the pruning, deletes the consumer, publishes 500 more, consumes again. */
async function pruneThenRecreate(
  dir: string,
  publish: (count: number, from: number) => Promise<void>,
  deleteConsumer: () => Promise<void>,
): Promise<void> {
  await publish(2_000, 1);
  await runWorker(dir);
  expect(await counts(dir)).toEqual({ n: 2_000, ids: 2_000 });
  const { floor, positions } = await ledger(dir);
  expect(floor).toBeDefined();
  // Pruned after each batch: the claims left end above the floor, a batch's ranges at most.
  expect(positions.filter((p) => key(p) <= key(floor!))).toEqual([]);
  expect(positions.length).toBeLessThan(10);

  await deleteConsumer();
  await publish(500, 2_001);
  const second = await runWorker(dir);
  // Every message is delivered again; the floor and the claims left recognise the first 2,000.
  expect(second.stderr).toMatch(/2000 redelivery\(ies\) recognised/);
  expect(await counts(dir)).toEqual({ n: 2_500, ids: 2_500 });
  const after = await ledger(dir);
  expect(key(after.floor!)).toBeGreaterThan(key(floor!));
}

describe.skipIf(!natsUp)("stream ledger pruning: NATS", () => {
  streamAroundTests(STREAM, SUBJECT);

  it("prunes the claims at or below the ack floor; a deleted durable publishes nothing twice", async () => {
    const durable = "prune";
    const dir = makeProject(
      projectYaml(
        `{ kind: nats, url: "${natsUrl}", stream: ${STREAM}, subject: "${SUBJECT}.${durable}", durable: ${durable}, ack_wait: 5s }`,
      ),
    );
    await pruneThenRecreate(
      dir,
      (count, from) => publishNats(`${SUBJECT}.${durable}`, eventPayloads(count, 0, from)),
      async () => {
        const nc = await connect({ servers: natsUrl });
        try {
          await (await jetstreamManager(nc)).consumers.delete(STREAM, durable);
        } finally {
          await nc.close();
        }
      },
    );
  }, 400_000);
});

describe.skipIf(!natsUp)("stream ledger pruning when the stream goes quiet", () => {
  const { stream, subject } = natsTestStream("PRUNEIDLE");
  streamAroundTests(stream, subject);

  it("prunes once the stream is caught up, without waiting for the batch count or the minute", async () => {
    const dir = makeProject(
      projectYaml(
        `{ kind: nats, url: "${natsUrl}", stream: ${stream}, subject: "${subject}.idle", durable: idle }`,
      ),
    );
    await publishNats(`${subject}.idle`, eventPayloads(1_200));
    // Far more batches than the run publishes: only the idle prune can prune.
    const r = await sluice(["worker", "--exit-when-idle", "1s"], dir, {
      env: { SLUICE_STREAM_PRUNE_BATCHES: "1000" },
      timeoutMs: 170_000,
    });
    expect(r.code, r.stderr).toBe(0);
    expect(await counts(dir)).toEqual({ n: 1_200, ids: 1_200 });
    const { floor, positions } = await ledger(dir);
    expect(floor).toBe("1200");
    expect(positions).toEqual([]);
  }, 200_000);
});

describe.skipIf(!redisUp)("stream ledger pruning: Redis", () => {
  afterAll(() => deleteRedisKeys([KEY]));

  it("prunes the claims at or below the group's ack floor; a destroyed group publishes nothing twice", async () => {
    const dir = makeProject(
      projectYaml(`{ kind: redis, url: "${redisUrl}", key: "${KEY}", group: sluice, claim_idle: 5s }`),
    );
    await pruneThenRecreate(
      dir,
      (count, from) => publishRedis(KEY, eventPayloads(count, 0, from)),
      async () => {
        const r = redisClient();
        try {
          await r.xgroup("DESTROY", KEY, "sluice");
        } finally {
          r.disconnect();
        }
      },
    );
  }, 400_000);
});
