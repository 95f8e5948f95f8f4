import { type ChildProcess, spawn } from "node:child_process";
import { setTimeout as sleep } from "node:timers/promises";
import { afterAll, describe, expect, it } from "vitest";
import { cliPath, makeProject, sluice } from "../support/cli.js";
import { startWorker as startStreamWorker, waitFor } from "../support/stream-worker.js";
import {
  deleteRedisKeys,
  eventPayloads,
  publishRedis,
  redisAvailable,
  redisClient,
  redisUrl,
  uniqueName,
} from "../support/streams.js";

const available = await redisAvailable();
const PREFIX = uniqueName("sluice_worker_redis_test");

function projectYaml(key: string, extra = ""): string {
  return `warehouse: duckdb:warehouse.duckdb
landing: landing
pipelines:
  events:
    source:
      stream: { kind: redis, url: "${redisUrl}", key: "${PREFIX}:${key}", group: sluice, claim_idle: 1s }
      batch: { max_rows: 200, max_wait: 300ms }
${extra}
    target: { table: events }
`;
}

function startWorker(dir: string): ChildProcess {
  const child = spawn(process.execPath, [cliPath, "worker"], {
    cwd: dir,
    stdio: ["ignore", "ignore", "ignore"],
  });
  return child;
}

async function query<T>(dir: string, sql: string): Promise<T[]> {
  const r = await sluice(["query", sql, "--json"], dir, { env: { SLUICE_LOCK_WAIT: "30s" } });
  expect(r.code, r.stderr).toBe(0);
  return r.json<T[]>();
}

describe.skipIf(!available)("sluice worker on Redis Streams", () => {
  afterAll(async () => {
    await deleteRedisKeys([], `${PREFIX}:*`);
  });

  it("loads a 10 MB message", async () => {
    const dir = makeProject(projectYaml("big"));
    const blob = "z".repeat(10 * 1024 * 1024);
    await publishRedis(`${PREFIX}:big`, [
      JSON.stringify({ id: 1, blob }),
      JSON.stringify({ id: 2, blob: "small" }),
    ]);
    const r = await sluice(["worker", "--exit-when-idle", "1s"], dir);
    expect(r.code, r.stderr).toBe(0);
    const rows = await query<{ id: number; len: number }>(
      dir,
      "SELECT id, length(blob) AS len FROM events ORDER BY id",
    );
    expect(rows).toEqual([
      { id: 1, len: blob.length },
      { id: 2, len: 5 },
    ]);
  });

  it("a group deleted under a running worker is created again; nothing is published twice", async () => {
    const dir = makeProject(projectYaml("regroup"));
    const key = `${PREFIX}:regroup`;
    await publishRedis(key, eventPayloads(1_000));
    const worker = startStreamWorker(dir, ["--exit-when-idle", "3s"]);
    await waitFor(() => worker.reports() >= 5, "the first 1,000 entries published (5 batches)");
    const r = redisClient();
    try {
      await r.xgroup("DESTROY", key, "sluice");
    } finally {
      r.disconnect();
    }
    await publishRedis(key, eventPayloads(500, 0, 1_001));
    expect(await worker.exited, worker.stderr()).toBe(0);
    expect(worker.stderr()).toMatch(/group sluice of key \S+: it was deleted: created again/);
    const [counts] = await query<{ n: number; ids: number }>(
      dir,
      "SELECT count(*) AS n, count(DISTINCT id) AS ids FROM events",
    );
    expect(counts).toEqual({ n: 1_500, ids: 1_500 });
  });

  it("stops on SIGTERM with exit 0 mid-stream, losing nothing", async () => {
    const dir = makeProject(projectYaml("term"));
    await publishRedis(`${PREFIX}:term`, eventPayloads(3_000));
    const worker = startStreamWorker(dir);
    // Signalled while batches flow (a first one published), not while the process still starts.
    await waitFor(() => worker.reports() > 0, "a first published batch");
    worker.child.kill("SIGTERM");
    expect(await worker.exited, worker.stderr()).toBe(0);
    expect(worker.reports()).toBeLessThan(15);
    const rest = await sluice(["worker", "--exit-when-idle", "3s"], dir, { timeoutMs: 120_000 });
    expect(rest.code, rest.stderr).toBe(0);
    const [counts] = await query<{ n: number; ids: number }>(
      dir,
      "SELECT count(*) AS n, count(DISTINCT id) AS ids FROM events",
    );
    expect(counts).toEqual({ n: 3_000, ids: 3_000 });
  });

  it("publishes every entry once across kill -9, poison once in the quarantine and in the dead letter", async () => {
    const total = 6_000;
    const poisonEvery = 101;
    const dir = makeProject(projectYaml("crash", `      dead_letter: { key: "${PREFIX}:dead" }`));
    await publishRedis(`${PREFIX}:crash`, eventPayloads(total, poisonEvery));
    for (let kill = 0; kill < 3; kill++) {
      const worker = startWorker(dir);
      await sleep(1_500 + Math.floor(Math.random() * 1_500));
      worker.kill("SIGKILL");
      await new Promise((done) => worker.once("exit", done));
    }
    // Entries the killed consumers held are claimed (XAUTOCLAIM) once idle for claim_idle.
    const rest = await sluice(["worker", "--exit-when-idle", "4s"], dir, { timeoutMs: 240_000 });
    expect(rest.code, rest.stderr).toBe(0);
    const poison = Math.floor(total / poisonEvery);
    const [counts] = await query<{ n: number; ids: number }>(
      dir,
      "SELECT count(*) AS n, count(DISTINCT id) AS ids FROM events",
    );
    expect(counts).toEqual({ n: total - poison, ids: total - poison });
    const [q] = await query<{ n: number; distinct_raw: number }>(
      dir,
      "SELECT count(*) AS n, count(DISTINCT raw) AS distinct_raw FROM sluice.quarantine",
    );
    expect(q).toEqual({ n: poison, distinct_raw: poison });
    // The dead letter is written after the commit: a kill in between may repeat an entry there, never lose one.
    const r = redisClient();
    const dead = (await r.xrange(`${PREFIX}:dead`, "-", "+")) as [string, string[]][];
    r.disconnect();
    const positions = new Set(dead.map(([, fields]) => fields[fields.indexOf("position") + 1]));
    expect(positions.size).toBe(poison);
  }, 300_000);
});
