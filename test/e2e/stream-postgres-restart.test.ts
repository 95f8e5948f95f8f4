import { setTimeout as sleep } from "node:timers/promises";
import { afterAll, describe, expect, it } from "vitest";
import { openPostgresWarehouse } from "../../src/warehouse/postgres-warehouse.js";
import { makeProject } from "../support/cli.js";
import { type PrivatePostgres, startPrivatePostgres } from "../support/private-postgres.js";
import { serviceAvailable } from "../support/require-service.js";
import { startWorker, waitFor } from "../support/stream-worker.js";
import {
  eventPayloads,
  natsAvailable,
  natsTestStream,
  natsUrl,
  publishNats,
  streamAroundTests,
} from "../support/streams.js";

let server: PrivatePostgres | undefined;
const natsUp = await natsAvailable();
const available =
  natsUp &&
  (await serviceAvailable("a private PostgreSQL (initdb/pg_ctl)", async () => {
    server = await startPrivatePostgres();
  }));
const { stream: STREAM, subject: SUBJECT } = natsTestStream("PGRESTART");
const TOTAL = 20_000;
const POISON_EVERY = 101;
const POISON = Math.floor(TOTAL / POISON_EVERY);

describe.skipIf(!available)("sluice worker: the PostgreSQL warehouse restarted mid-publish", () => {
  streamAroundTests(STREAM, SUBJECT);
  afterAll(async () => {
    await server?.stop();
  });

  it("rides through restarts and an outage: every message once, every poison one once", async () => {
    await publishNats(`${SUBJECT}.a`, eventPayloads(TOTAL, POISON_EVERY));
    const dir = makeProject(`warehouse: "${server!.url}"
landing: landing
pipelines:
  events:
    source:
      stream: { kind: nats, url: "${natsUrl}", stream: ${STREAM}, subject: "${SUBJECT}.a", durable: pg, ack_wait: 5s }
      batch: { max_rows: 1000, max_wait: 300ms }
    columns:
      id: { type: bigint }
    target: { table: events }
    retries: { max: 3, base: 200ms, max_delay: 1s }
`);
    const worker = startWorker(dir, ["--exit-when-idle", "6s"]);
    // Restarts (every connection terminated) a random moment into a batch, then a 2 s outage.
    for (let round = 1; round <= 3; round++) {
      await waitFor(
        () => worker.reports() >= round * 3,
        () => `${round * 3} published batches (worker stderr: ${worker.stderr().slice(-3000)})`,
        120_000,
      );
      await sleep(Math.floor(Math.random() * 500));
      await server!.restart();
    }
    await waitFor(
      () => worker.reports() >= 12,
      () => `12 published batches (worker stderr: ${worker.stderr().slice(-3000)})`,
      120_000,
    );
    const before = worker.reports();
    const { over } = await server!.outage(2_000);
    await over;
    expect(await worker.exited, worker.stderr()).toBe(0);
    expect(worker.reports()).toBeGreaterThan(before);
    const w = await openPostgresWarehouse({ url: server!.url, readOnly: true });
    try {
      const [counts] = await w.query("SELECT count(*)::int AS n, count(DISTINCT id)::int AS ids FROM events");
      expect(counts).toEqual({ n: TOTAL - POISON, ids: TOTAL - POISON });
      const [q] = await w.query(
        "SELECT count(*)::int AS n, count(DISTINCT raw)::int AS d FROM sluice.quarantine WHERE pipeline = 'events'",
      );
      expect(q).toEqual({ n: POISON, d: POISON });
    } finally {
      await w.close();
    }
    // Meanwhile the worker said what was happening: the warehouse retries (a batch it gives up on is
    // retried whole: "batch not published (...)"), never an exit.
    expect(worker.stderr()).toMatch(
      /PostgreSQL postgres@127\.0\.0\.1:\d+\/postgres: (connection refused|the database system is \w+ \w+|terminating connection)[^\n]*; retry \d+ in \d+ ms/,
    );
  }, 400_000);
});
