import { setTimeout as sleep } from "node:timers/promises";
import { afterAll, describe, expect, it } from "vitest";
import { openPostgresWarehouse } from "../../src/warehouse/postgres-warehouse.js";
import { makeProject } from "../support/cli.js";
import { queryDatabase } from "../support/postgres.js";
import { type PrivatePostgres, startPrivatePostgres } from "../support/private-postgres.js";
import { serviceAvailable } from "../support/require-service.js";
import { startWorker, type WorkerProcess, waitFor } from "../support/stream-worker.js";
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
const RETRY_NOTICE =
  /PostgreSQL postgres@127\.0\.0\.1:\d+\/postgres: (connection refused|the database system is \w+ \w+|terminating connection)[^\n]*; retry \d+ in \d+ ms/;

/**
 * Waits for `n` published batches. A timeout names the worker's stderr and the server's sessions: a
 * session idle in a transaction, or one waiting for a lock, shows there.
 */
async function waitForBatches(worker: WorkerProcess, n: number): Promise<void> {
  await waitFor(() => worker.reports() >= n, `${n} published batches`, 120_000).catch(async (error) => {
    const sessions = await queryDatabase(
      server!.url,
      "SELECT pid, application_name, state, wait_event_type, wait_event, (now() - state_change)::text AS since, left(query, 300) AS query FROM pg_stat_activity WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()",
    )
      .then((r) => JSON.stringify(r.rows, null, 1))
      .catch((e: unknown) => `(not read: ${String(e)})`);
    throw new Error(
      `${(error as Error).message}\nworker stderr: ${worker.stderr().slice(-3000)}\nserver sessions: ${sessions}`,
    );
  });
}

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
      await waitForBatches(worker, round * 3);
      await sleep(Math.floor(Math.random() * 500));
      await server!.restart();
    }
    await waitForBatches(worker, 12);
    const before = worker.reports();
    // The worker says what is happening: the warehouse retries (a batch it gives up on is retried whole:
    // "batch not published (...)"), never an exit. The restarts above may all land while the worker is
    // busy elsewhere (pulling, staging: a loaded machine saw no notice in three), so the outage lasts
    // until the worker tried the warehouse and said so (batches are still to come: 12 of 20 or more).
    const { over } = await server!.outage(2_000, () =>
      waitFor(() => RETRY_NOTICE.test(worker.stderr()), "a retry notice during the outage", 60_000),
    );
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
    expect(worker.stderr()).toMatch(RETRY_NOTICE);
  }, 400_000);
});
