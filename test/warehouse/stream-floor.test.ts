import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openDuckDbWarehouse } from "../../src/warehouse/duckdb-warehouse.js";
import { positionRanges } from "../../src/warehouse/position-ranges.js";
import { openPostgresWarehouse } from "../../src/warehouse/postgres-warehouse.js";
import {
  comparePositions,
  floorSelectSql,
  positionKeySql,
  redisIdBefore,
} from "../../src/warehouse/stream-floor-sql.js";
import { anyPublishedSql, publishedPositionsSql } from "../../src/warehouse/stream-positions-sql.js";
import type { RunRecord, Warehouse } from "../../src/warehouse/warehouse.js";
import { createTestDatabase, pgServer, pingPostgres } from "../support/postgres.js";
import { serviceAvailable } from "../support/require-service.js";

// A stream pipeline's floor: every position at or below it is published, its claims are pruned, and it
// still counts as published for lookups and refuses claims (see stream-floor-sql.ts).

const PIPELINE = "events";

describe("stream positions compare as numbers", () => {
  it("orders NATS sequences and Redis ids numerically, not as text", () => {
    expect(comparePositions("9", "10")).toBeLessThan(0);
    expect(comparePositions("10", "10")).toBe(0);
    expect(comparePositions("999999999999-5", "1700000000000-0")).toBeLessThan(0);
    expect(comparePositions("1700000000000-10", "1700000000000-9")).toBeGreaterThan(0);
    expect(comparePositions("18446744073709551615", "18446744073709551614")).toBeGreaterThan(0);
    expect(() => comparePositions("x", "1")).toThrow(/not a stream position: x/);
  });

  it("steps a Redis id back by one", () => {
    expect(redisIdBefore("5-3")).toBe("5-2");
    expect(redisIdBefore("5-0")).toBe("4-18446744073709551615");
    expect(redisIdBefore("0-1")).toBe("0-0");
    expect(redisIdBefore("0-0")).toBeNull();
  });
});

function runOf(runId: string): RunRecord {
  return {
    runId,
    pipeline: PIPELINE,
    status: "succeeded",
    startedAt: new Date("2026-02-01T00:00:00Z"),
    finishedAt: new Date("2026-02-01T00:00:01Z"),
    report: { sequence: 1, rows: { read: 0 } },
  };
}

/** Records run `runId` as one loaded stream batch claiming `positions`. */
function publishBatch(warehouse: Warehouse, runId: string, positions: readonly string[]): Promise<void> {
  const batch = `stream:${PIPELINE}/${runId}`;
  const ledger = {
    runId,
    pipeline: PIPELINE,
    path: batch,
    sha256: `digest-${runId}`,
    size: 1,
    status: "loaded" as const,
    rowsRead: positions.length,
    rowsLoaded: positions.length,
    archivedTo: null,
    error: null,
  };
  return warehouse.recordRun(runOf(runId), [ledger], undefined, {
    batches: [{ batch, positions: positionRanges(positions.map((position) => ({ position }))) }],
  });
}

async function column(warehouse: Warehouse, sql: string, name = "position"): Promise<string[]> {
  return (await warehouse.query(sql)).map((r) => String(r[name])).sort(comparePositions);
}

/** The claimed ranges, `first..last`, in position order. */
const claimed = async (warehouse: Warehouse) =>
  (
    await warehouse.query(
      `SELECT first_position, last_position FROM sluice.stream_claims WHERE pipeline = '${PIPELINE}' ORDER BY last_key`,
    )
  ).map((r) => `${r.first_position}..${r.last_position}`);
const published = (warehouse: Warehouse, positions: readonly string[]) =>
  column(warehouse, publishedPositionsSql(PIPELINE, positions));
const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => String(from + i));

function floorCases(open: () => Promise<Warehouse>): void {
  it("orders positions in SQL as comparePositions does", async () => {
    const warehouse = await open();
    try {
      const positions = ["10", "9", "100", "2", "18446744073709551615", "0"];
      const ids = ["1700000000000-10", "999999999999-5", "1700000000000-9", "1700000000001-0", "0-0"];
      for (const list of [positions, ids]) {
        const values = list.map((p) => `('${p}')`).join(", ");
        const rows = await warehouse.query(
          `SELECT t.p FROM (VALUES ${values}) AS t(p) ORDER BY ${positionKeySql("t.p")}`,
        );
        expect(rows.map((r) => String(r.p))).toEqual([...list].sort(comparePositions));
      }
    } finally {
      await warehouse.close();
    }
  });

  it("prunes the claims at or below the floor; they still count as published and cannot be claimed again", async () => {
    const warehouse = await open();
    try {
      await publishBatch(warehouse, "r1", range(1, 10));
      await publishBatch(warehouse, "r2", range(11, 20));
      // An earlier build's record of a position, pruned too.
      await warehouse.query(
        `INSERT INTO sluice.stream_positions (pipeline, position, batch) VALUES ('${PIPELINE}', '4', 'stream:${PIPELINE}/r1'), ('${PIPELINE}', '15', 'stream:${PIPELINE}/r2')`,
      );
      // r1's range and the earlier build's 4.
      expect(await warehouse.recordStreamFloor(PIPELINE, "10")).toBe(2);
      expect(await column(warehouse, floorSelectSql(PIPELINE))).toEqual(["10"]);
      expect(await claimed(warehouse)).toEqual(["11..20"]);
      expect(
        await column(
          warehouse,
          `SELECT position FROM sluice.stream_positions WHERE pipeline = '${PIPELINE}'`,
        ),
      ).toEqual(["15"]);
      expect(await published(warehouse, range(1, 25))).toEqual(range(1, 20));
      // A redelivery at or below the floor (a consumer created again) is refused by the claim.
      await expect(publishBatch(warehouse, "r3", ["5", "21"])).rejects.toMatchObject({
        code: "STREAM_CONFLICT",
      });
      await publishBatch(warehouse, "r4", ["21"]);
      // A lower floor (another worker's, older) leaves the floor as it is.
      expect(await warehouse.recordStreamFloor(PIPELINE, "3")).toBe(0);
      expect(await column(warehouse, floorSelectSql(PIPELINE))).toEqual(["10"]);
      // The ranges 11..20 and 21, and the earlier build's 15.
      expect(await warehouse.recordStreamFloor(PIPELINE, "21")).toBe(3);
      expect(await claimed(warehouse)).toEqual([]);
      // Only a floor left: the pipeline has published.
      expect((await warehouse.query(anyPublishedSql(PIPELINE)))[0]?.published).toBe(true);
      expect((await warehouse.query(anyPublishedSql("other")))[0]?.published).toBe(false);
      expect(await published(warehouse, ["21", "22"])).toEqual(["21"]);
    } finally {
      await warehouse.close();
    }
  });

  it("prunes thousands of claims at once (DuckDB rebuilds the table): the rest kept, still refused twice", async () => {
    // Positions that do not follow each other are a range each (as Redis ids of other consumers are).
    const evens = (from: number, to: number) => range(from / 2, to / 2).map((n) => String(Number(n) * 2));
    const warehouse = await open();
    try {
      await publishBatch(warehouse, "r1", evens(2, 6000));
      await publishBatch(warehouse, "r2", evens(6002, 8000));
      // Another pipeline's claims are not touched by this one's floor.
      await warehouse.recordRun({ ...runOf("o1"), pipeline: "other" }, [], undefined, {
        batches: [
          {
            batch: "stream:other/o1",
            positions: positionRanges(evens(2, 1000).map((position) => ({ position }))),
          },
        ],
      });
      // Claims on disk (checkpointed) are the expensive ones to delete one by one in DuckDB.
      if (warehouse.kind === "duckdb") await warehouse.query("CHECKPOINT");
      expect(await warehouse.recordStreamFloor(PIPELINE, "7000")).toBe(3500);
      expect(await claimed(warehouse)).toEqual(evens(7002, 8000).map((p) => `${p}..${p}`));
      const other = await column(
        warehouse,
        "SELECT count(*) AS n FROM sluice.stream_claims WHERE pipeline = 'other'",
        "n",
      );
      expect(other).toEqual(["500"]);
      expect(await published(warehouse, ["6998", "7998", "8002"])).toEqual(["6998", "7998"]);
      // The claims' key holds after the prune: a kept claim and a pruned one are both refused.
      await expect(publishBatch(warehouse, "r3", ["7998", "8001"])).rejects.toMatchObject({
        code: "STREAM_CONFLICT",
      });
      await expect(publishBatch(warehouse, "r4", ["10", "8003"])).rejects.toMatchObject({
        code: "STREAM_CONFLICT",
      });
      await publishBatch(warehouse, "r5", ["8001"]);
      expect((await claimed(warehouse)).at(-1)).toBe("8001..8001");
    } finally {
      await warehouse.close();
    }
  });

  it("compares Redis ids numerically: a shorter millisecond part is lower", async () => {
    const warehouse = await open();
    try {
      const ids = [
        "999999999999-5",
        "1700000000000-0",
        "1700000000000-1",
        "1700000000000-10",
        "1700000000001-0",
      ];
      await publishBatch(warehouse, "r1", ids);
      // 999999999999-5, and 1700000000000-0..1 (one ms, in sequence: one range).
      expect(await warehouse.recordStreamFloor(PIPELINE, "1700000000000-1")).toBe(2);
      expect(await claimed(warehouse)).toEqual([
        "1700000000000-10..1700000000000-10",
        "1700000000001-0..1700000000001-0",
      ]);
      expect(await published(warehouse, [...ids, "1700000000000-2", "1700000000002-0"])).toEqual(
        [...ids].sort(comparePositions),
      );
    } finally {
      await warehouse.close();
    }
  });
}

describe("stream floors: DuckDB", () => {
  let dir: string;
  let n = 0;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), "sluice-floors-"));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  floorCases(() => openDuckDbWarehouse({ file: join(dir, `w${n++}.duckdb`) }));
});

const pgUp = await serviceAvailable(`PostgreSQL at ${pgServer}`, pingPostgres);

describe.skipIf(!pgUp)("stream floors: PostgreSQL", () => {
  const cleanups: (() => Promise<void>)[] = [];
  afterAll(async () => {
    for (const cleanup of cleanups) await cleanup();
  });
  floorCases(async () => {
    const db = await createTestDatabase();
    cleanups.push(db.cleanup);
    return openPostgresWarehouse({ url: db.url, retries: 0 });
  });
});
