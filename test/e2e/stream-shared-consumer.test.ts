import { type ChildProcess, spawn } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { afterAll, describe, expect, it } from "vitest";
import { cliPath, makeProject, sluice } from "../support/cli.js";
import { createTestDatabase, pgServer, pingPostgres } from "../support/postgres.js";
import { serviceAvailable } from "../support/require-service.js";
import {
  createNatsStream,
  deleteNatsStream,
  deleteRedisKeys,
  eventPayloads,
  natsAvailable,
  natsUrl,
  publishNats,
  publishRedis,
  redisAvailable,
  redisUrl,
  uniqueName,
} from "../support/streams.js";

// Several `sluice worker` processes share one JetStream durable consumer / one Redis consumer group on a
// PostgreSQL warehouse. The ack wait (claim idle time) is short, so a message still being published by
// one worker is delivered to another; workers are killed with SIGKILL and started again. Every good
// message must end up in the table exactly once, every poison one in the quarantine exactly once.

const pgUp = await serviceAvailable(`PostgreSQL at ${pgServer}`, pingPostgres);
const natsUp = pgUp && (await natsAvailable());
const redisUp = pgUp && (await redisAvailable());

const TOTAL = 3_000;
const POISON_EVERY = 97;
const GOOD = TOTAL - Math.floor(TOTAL / POISON_EVERY);
const WORKERS = 3;
const KILLS = 4;

const cleanups: (() => Promise<void>)[] = [];
afterAll(async () => {
  for (const cleanup of cleanups) await cleanup().catch(() => undefined);
});

function projectYaml(warehouse: string, stream: string, extra = ""): string {
  return `warehouse: ${warehouse}
landing: landing
lake: lake
pipelines:
  events:
    source:
      stream: ${stream}
      batch: { max_rows: 200, max_wait: 300ms }
    columns:
      id: { type: bigint }
    checks:
      - { rule: not_null, columns: [id] }
    target: { table: events${extra} }
`;
}

interface Worker {
  readonly child: ChildProcess;
  readonly exited: Promise<unknown>;
}

function startWorker(dir: string, stderr: string[]): Worker {
  const child = spawn(process.execPath, [cliPath, "worker", "--exit-when-idle", "3s"], {
    cwd: dir,
    stdio: ["ignore", "ignore", "pipe"],
  });
  child.stderr!.on("data", (d: Buffer) => stderr.push(d.toString()));
  return { child, exited: new Promise((done) => child.once("exit", done)) };
}

/**
 * Runs WORKERS workers on one consumer, kills one at random KILLS times (starting another in its place),
 * lets the rest run to idle, then one more worker to idle. Returns the workers' stderr.
 */
async function runSharedWorkers(dir: string): Promise<string> {
  const stderr: string[] = [];
  const workers = Array.from({ length: WORKERS }, () => startWorker(dir, stderr));
  for (let kill = 0; kill < KILLS; kill++) {
    // Past start-up (about a second on a busy machine), then a random moment into the stream.
    await sleep(1_200 + Math.floor(Math.random() * 1_500));
    const at = Math.floor(Math.random() * workers.length);
    workers[at]!.child.kill("SIGKILL");
    await workers[at]!.exited;
    workers[at] = startWorker(dir, stderr);
  }
  await Promise.all(workers.map((w) => w.exited));
  const rest = await sluice(["worker", "--exit-when-idle", "4s"], dir, { timeoutMs: 240_000 });
  expect(rest.code, rest.stderr).toBe(0);
  return stderr.join("") + rest.stderr;
}

async function query<T>(dir: string, sql: string): Promise<T[]> {
  const r = await sluice(["query", sql, "--json"], dir);
  expect(r.code, r.stderr).toBe(0);
  return r.json<T[]>();
}

/** Every good message once in `table`, every poison one once in the quarantine; the conflicts seen. */
async function expectExactlyOnce(dir: string, table = "events"): Promise<number> {
  const [counts] = await query<{ n: number; ids: number }>(
    dir,
    `SELECT count(*) AS n, count(DISTINCT id) AS ids FROM ${table}`,
  );
  expect(counts).toEqual({ n: GOOD, ids: GOOD });
  const [q] = await query<{ n: number; distinct_raw: number }>(
    dir,
    "SELECT count(*) AS n, count(DISTINCT raw) AS distinct_raw FROM sluice.quarantine WHERE pipeline = 'events'",
  );
  expect(q).toEqual({ n: TOTAL - GOOD, distinct_raw: TOTAL - GOOD });
  const [conflicts] = await query<{ n: number }>(
    dir,
    "SELECT count(*) AS n FROM sluice.runs WHERE status = 'failed' AND error LIKE '%published meanwhile by another worker%'",
  );
  return conflicts!.n;
}

/** Messages another worker published first, seen by a worker: a conflict or a recognised redelivery. */
function recognised(stderr: string): number {
  return [...stderr.matchAll(/(\d+) redelivered message\(s\) were published before/g)].reduce(
    (n, m) => n + Number(m[1]),
    0,
  );
}

describe.skipIf(!natsUp)("workers sharing one NATS JetStream durable consumer (PostgreSQL warehouse)", () => {
  it("publish every message exactly once across redeliveries between workers and kill -9, lake included", async () => {
    const db = await createTestDatabase();
    cleanups.push(db.cleanup);
    const name = uniqueName("SHARED").toUpperCase();
    const subject = name.toLowerCase();
    await createNatsStream(name, subject);
    cleanups.push(() => deleteNatsStream(name));
    const dir = makeProject(
      projectYaml(
        db.url,
        `{ kind: nats, url: "${natsUrl}", stream: ${name}, subject: "${subject}.events", durable: shared, ack_wait: 1s }`,
        ", lake: { table: events, format: delta }",
      ),
    );
    await publishNats(`${subject}.events`, eventPayloads(TOTAL, POISON_EVERY));
    const stderr = await runSharedWorkers(dir);
    const conflicts = await expectExactlyOnce(dir);
    // The lake never holds a batch twice: a batch whose positions were taken never reached it.
    const [lake] = await query<{ n: number; ids: number }>(
      dir,
      "SELECT count(*) AS n, count(DISTINCT id) AS ids FROM lake.events",
    );
    expect(lake).toEqual({ n: GOOD, ids: GOOD });
    console.log(
      `nats: ${conflicts} conflict(s), ${recognised(stderr)} redelivery(ies) recognised by workers`,
    );
  }, 420_000);
});

describe.skipIf(!redisUp)("workers sharing one Redis consumer group (PostgreSQL warehouse)", () => {
  it("publish every message exactly once across claims between workers and kill -9", async () => {
    const db = await createTestDatabase();
    cleanups.push(db.cleanup);
    const key = uniqueName("sluice_shared_test");
    cleanups.push(() => deleteRedisKeys([key]));
    // No consumer name: each worker is its own consumer of the group (host and pid).
    const dir = makeProject(
      projectYaml(
        db.url,
        `{ kind: redis, url: "${redisUrl}", key: "${key}", group: sluice, claim_idle: 1s }`,
      ),
    );
    await publishRedis(key, eventPayloads(TOTAL, POISON_EVERY));
    const stderr = await runSharedWorkers(dir);
    const conflicts = await expectExactlyOnce(dir);
    console.log(
      `redis: ${conflicts} conflict(s), ${recognised(stderr)} redelivery(ies) recognised by workers`,
    );
  }, 420_000);
});

describe.skipIf(!natsUp)("a stream batch's lake commit inside the embedded warehouse's transaction", () => {
  it("publishes each message once into the DuckDB table and the Delta lake table", async () => {
    const name = uniqueName("LAKEDUCK").toUpperCase();
    const subject = name.toLowerCase();
    await createNatsStream(name, subject);
    cleanups.push(() => deleteNatsStream(name));
    const dir = makeProject(
      projectYaml(
        "duckdb:warehouse.duckdb",
        `{ kind: nats, url: "${natsUrl}", stream: ${name}, subject: "${subject}.events", durable: lake }`,
        ", lake: { table: events, format: delta }",
      ),
    );
    await publishNats(`${subject}.events`, eventPayloads(1_000, POISON_EVERY));
    const r = await sluice(["worker", "--exit-when-idle", "1s"], dir);
    expect(r.code, r.stderr).toBe(0);
    const good = 1_000 - Math.floor(1_000 / POISON_EVERY);
    for (const table of ["events", "lake.events"]) {
      const [counts] = await query<{ n: number; ids: number }>(
        dir,
        `SELECT count(*) AS n, count(DISTINCT id) AS ids FROM ${table}`,
      );
      expect(counts).toEqual({ n: good, ids: good });
    }
  });
});

describe.skipIf(!natsUp)("a stream batch killed between its lake commit and its warehouse commit", () => {
  it("leaves no row twice in the lake when its messages come again in other batches", async () => {
    const name = uniqueName("LAKEKILL").toUpperCase();
    const subject = name.toLowerCase();
    await createNatsStream(name, subject);
    cleanups.push(() => deleteNatsStream(name));
    const stream = `{ kind: nats, url: "${natsUrl}", stream: ${name}, subject: "${subject}.events", durable: lake, ack_wait: 1s }`;
    const lake = ", lake: { table: events, format: delta }";
    const dir = makeProject(projectYaml("duckdb:warehouse.duckdb", stream, lake));
    await publishNats(`${subject}.events`, eventPayloads(1_000));
    // Dies right after its first lake commit: the warehouse never learns of that batch.
    const killed = await sluice(["worker", "--exit-when-idle", "1s"], dir, {
      env: { SLUICE_FAILPOINT: "after-lake-commit" },
    });
    expect(killed.code).not.toBe(0);
    // Smaller batches from now on: the interrupted batch's messages come again in batches of other digests.
    writeFileSync(
      join(dir, "sluice.yaml"),
      projectYaml("duckdb:warehouse.duckdb", stream, lake).replace("max_rows: 200", "max_rows: 70"),
    );
    const r = await sluice(["worker", "--exit-when-idle", "2s"], dir);
    expect(r.code, r.stderr).toBe(0);
    for (const table of ["events", "lake.events"]) {
      const [counts] = await query<{ n: number; ids: number }>(
        dir,
        `SELECT count(*) AS n, count(DISTINCT id) AS ids FROM ${table}`,
      );
      expect(counts).toEqual({ n: 1_000, ids: 1_000 });
    }
  });
});
