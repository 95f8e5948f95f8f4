import { setTimeout as sleep } from "node:timers/promises";
import { afterAll, describe, expect, it } from "vitest";
import { addFile, makeProject, sluice } from "../support/cli.js";
import { queryRows, startDaemon, waitFor } from "../support/daemon.js";
import {
  deleteRedisKeys,
  eventPayloads,
  publishRedis,
  redisAvailable,
  redisUrl,
  uniqueName,
} from "../support/streams.js";

const available = await redisAvailable();
const KEY = uniqueName("sluice_watch_streams_test");

describe.skipIf(!available)("sluice watch with a stream pipeline beside a file pipeline", () => {
  afterAll(() => deleteRedisKeys([KEY]));

  it("consumes the stream and loads arriving files in one process, taking turns with the warehouse; SIGTERM stops both cleanly", async () => {
    const dir = makeProject(`warehouse: duckdb:warehouse.duckdb
landing: landing
pipelines:
  events:
    source:
      stream: { kind: redis, url: "${redisUrl}", key: "${KEY}", group: sluice, claim_idle: 500ms }
      batch: { max_rows: 200, max_wait: 200ms }
    columns:
      id: { type: bigint }
    target: { table: events }
  orders:
    source: { path: "in/orders/*.csv", stable_for: 300ms }
    target: { table: orders }
`);
    const daemon = await startDaemon(dir, ["--json"]);
    const reports = () =>
      daemon
        .stdout()
        .split("\n")
        .filter(Boolean)
        .map((l) => JSON.parse(l) as { pipeline: string; status: string; rows: { loaded: number } });
    const loaded = (pipeline: string) =>
      reports()
        .filter((r) => r.pipeline === pipeline && r.status === "succeeded")
        .reduce((n, r) => n + r.rows.loaded, 0);
    let published = 0;
    try {
      expect(daemon.stderr()).toMatch(/1 file pipeline\(s\), 1 stream pipeline\(s\)/);
      // The stream keeps flowing until the files are in: the file runs get the warehouse between batches
      // (a worker that kept it while batches flow would starve them).
      let stopFlow = false;
      const flow = (async () => {
        while (!stopFlow && published < 10_000) {
          await publishRedis(KEY, eventPayloads(25, 0, published + 1));
          published += 25;
          await sleep(100);
        }
      })();
      try {
        await waitFor(() => loaded("events") > 0, 30_000, daemon.stderr);
        addFile(dir, "landing/in/orders/a.csv", "id,v\n1,a\n2,b\n");
        await sleep(400);
        addFile(dir, "landing/in/orders/b.csv", "id,v\n3,c\n");
        await waitFor(() => loaded("orders") === 3, 30_000, daemon.stderr);
      } finally {
        stopFlow = true;
        await flow;
      }
    } finally {
      const exit = await daemon.stop("SIGTERM");
      expect(exit.code, daemon.stderr()).toBe(0);
    }
    expect(daemon.stderr()).toMatch(/SIGTERM: stopping/);
    expect(daemon.stderr()).not.toMatch(/error|not published/i);
    // Whatever the stop left unacknowledged (a batch pulled ahead is abandoned: Redis cannot take a
    // delivery back), a worker claims once idle for claim_idle: every message once, nothing lost.
    const rest = await sluice(["worker", "--exit-when-idle", "3s"], dir, { timeoutMs: 120_000 });
    expect(rest.code, rest.stderr).toBe(0);
    const [events] = await queryRows<{ n: number; ids: number }>(
      dir,
      "SELECT count(*) AS n, count(DISTINCT id) AS ids FROM events",
    );
    expect(events).toEqual({ n: published, ids: published });
    const [orders] = await queryRows<{ n: number }>(dir, "SELECT count(*) AS n FROM orders");
    expect(orders).toEqual({ n: 3 });
  }, 120_000);

  it("re-runs a depends_on downstream after published batches, one pending run at a time", async () => {
    const key = `${KEY}_downstream`;
    const dir = makeProject(`warehouse: duckdb:warehouse.duckdb
landing: landing
pipelines:
  events:
    source:
      stream: { kind: redis, url: "${redisUrl}", key: "${key}", group: sluice }
      batch: { max_rows: 100, max_wait: 200ms }
    columns:
      id: { type: bigint }
    target: { table: events }
  event_count:
    source: { sql: "SELECT count(*) AS n, count(DISTINCT id) AS ids FROM events" }
    depends_on: [events]
    target: { table: event_count, mode: replace }
`);
    const daemon = await startDaemon(dir, ["--json"]);
    const reports = () =>
      daemon
        .stdout()
        .split("\n")
        .filter(Boolean)
        .map((l) => JSON.parse(l) as { pipeline: string; status: string; rows: { loaded: number } });
    // Done once a downstream run finished after the batch that brought the total to 500: the two take
    // turns with the warehouse, so that run read every event.
    const settled = () => {
      const all = reports();
      let loaded = 0;
      const last = all.findIndex((r) => {
        if (r.pipeline === "events") loaded += r.rows.loaded;
        return loaded === 500;
      });
      return last >= 0 && all.slice(last + 1).some((r) => r.pipeline === "event_count");
    };
    try {
      for (let i = 0; i < 10; i++) {
        await publishRedis(key, eventPayloads(50, 0, i * 50 + 1));
        await sleep(50);
      }
      await waitFor(settled, 60_000, daemon.stderr);
    } finally {
      const exit = await daemon.stop("SIGTERM");
      expect(exit.code, daemon.stderr()).toBe(0);
      await deleteRedisKeys([key]);
    }
    const batches = reports().filter((r) => r.pipeline === "events" && r.status === "succeeded").length;
    const downstream = reports().filter((r) => r.pipeline === "event_count");
    expect(downstream.length).toBeGreaterThan(0);
    expect(
      downstream.filter((r) => r.status !== "succeeded"),
      daemon.stdout(),
    ).toEqual([]);
    // Coalesced: never more downstream runs than published batches.
    expect(downstream.length).toBeLessThanOrEqual(batches);
    expect(await queryRows(dir, "SELECT n, ids FROM event_count")).toEqual([{ n: 500, ids: 500 }]);
  }, 120_000);

  it("stops with the stream's error (exit 1, no password shown) when the stream cannot be reached", async () => {
    const dir = makeProject(`warehouse: duckdb:warehouse.duckdb
landing: landing
pipelines:
  events:
    source:
      stream: { kind: redis, url: "redis://:hunter2-secret@127.0.0.1:1", key: "${KEY}", group: sluice }
    retries: { max: 1, base: 100ms, max_delay: 100ms }
    target: { table: events }
  orders:
    source: { path: "in/orders/*.csv", stable_for: 300ms }
    target: { table: orders }
`);
    const r = await sluice(["watch"], dir, { timeoutMs: 60_000 });
    expect(r.code, r.stderr).toBe(1);
    expect(r.stderr).toMatch(/redis:\/\/\*\*\*@127\.0\.0\.1:1/);
    expect(`${r.stdout}${r.stderr}`).not.toContain("hunter2");
  }, 90_000);
});
