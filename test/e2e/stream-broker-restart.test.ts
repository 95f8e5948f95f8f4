import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import { Redis } from "ioredis";
import { describe, expect, it } from "vitest";
import { makeProject } from "../support/cli.js";
import { type PrivateBroker, startPrivateNats, startPrivateRedis } from "../support/private-brokers.js";
import { serviceAvailable } from "../support/require-service.js";
import { queryRows, startWorker, waitFor } from "../support/stream-worker.js";
import { eventPayloads } from "../support/streams.js";

const TOTAL = 8_000;

let nats: PrivateBroker | undefined;
let redis: PrivateBroker | undefined;
const natsAvailable = await serviceAvailable("a private nats-server (/usr/sbin/nats-server)", async () => {
  nats = await startPrivateNats();
});
const redisAvailable = await serviceAvailable("a private redis-server (/usr/bin/redis-server)", async () => {
  redis = await startPrivateRedis(true);
});

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
    retries: { max: 3, base: 200ms, max_delay: 1s }
`;
}

/**
 * A worker consuming while its broker is stopped (SIGTERM) mid-stream, a random moment after its second
 * batch, and started again 3 s later: the worker must say what is happening, stay up, and load every
 * message exactly once.
 */
async function consumeThroughRestart(dir: string, broker: PrivateBroker): Promise<string> {
  const worker = startWorker(dir, ["--exit-when-idle", "6s"]);
  await waitFor(() => worker.reports() >= 2, "two published batches", 120_000);
  await new Promise((done) => setTimeout(done, Math.floor(Math.random() * 400)));
  const before = worker.reports();
  await broker.stop();
  await new Promise((done) => setTimeout(done, 3_000));
  expect(worker.child.exitCode, worker.stderr()).toBe(null);
  await broker.start();
  expect(await worker.exited, worker.stderr()).toBe(0);
  // It went on after the restart.
  expect(worker.reports()).toBeGreaterThan(before);
  const [counts] = await queryRows<{ n: number; ids: number }>(
    dir,
    "SELECT count(*) AS n, count(DISTINCT id) AS ids FROM events",
  );
  expect(counts).toEqual({ n: TOTAL, ids: TOTAL });
  return worker.stderr();
}

describe.skipIf(!natsAvailable)("the NATS server restarted while sluice worker consumes", () => {
  it("loses nothing, doubles nothing, and says what is happening meanwhile", async () => {
    try {
      const nc = await connect({ servers: nats!.url });
      const jsm = await jetstreamManager(nc);
      await jsm.streams.add({ name: "EVENTS", subjects: ["events.>"] });
      const js = jetstream(nc);
      const payloads = eventPayloads(TOTAL);
      for (let i = 0; i < payloads.length; i += 1000) {
        await Promise.all(
          payloads.slice(i, i + 1000).map((p) => js.publish("events.a", p, { timeout: 60_000 })),
        );
      }
      await nc.drain();
      const dir = makeProject(
        projectYaml(`{ kind: nats, url: "${nats!.url}", stream: EVENTS, durable: restart, ack_wait: 3s }`),
      );
      const stderr = await consumeThroughRestart(dir, nats!);
      expect(stderr).toMatch(
        /events: nats nats:\/\/127\.0\.0\.1:\d+ stream EVENTS consumer restart: connection lost; reconnecting/,
      );
      expect(stderr).toMatch(/consumer restart: connected again/);
    } finally {
      await nats?.close();
    }
  }, 300_000);
});

describe.skipIf(!redisAvailable)("the Redis server restarted while sluice worker consumes", () => {
  it("loses nothing, doubles nothing, and says what is happening meanwhile", async () => {
    try {
      const r = new Redis(redis!.url);
      const payloads = eventPayloads(TOTAL);
      for (let i = 0; i < payloads.length; i += 1000) {
        const p = r.pipeline();
        for (const payload of payloads.slice(i, i + 1000)) p.xadd("events", "*", "data", payload);
        await p.exec();
      }
      r.disconnect();
      const dir = makeProject(
        projectYaml(`{ kind: redis, url: "${redis!.url}", key: events, group: sluice, claim_idle: 2s }`),
      );
      const stderr = await consumeThroughRestart(dir, redis!);
      expect(stderr).toMatch(
        /events: redis redis:\/\/127\.0\.0\.1:\d+ key events group sluice: connection lost; reconnecting/,
      );
      expect(stderr).toMatch(/group sluice: connected again/);
    } finally {
      await redis?.close();
    }
  }, 300_000);
});
