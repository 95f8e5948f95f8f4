import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openDuckDbWarehouse } from "../../src/warehouse/duckdb-warehouse.js";
import { openPostgresWarehouse } from "../../src/warehouse/postgres-warehouse.js";
import { publishedPositionsSql } from "../../src/warehouse/stream-positions-sql.js";
import type { PositionClaim, RunRecord, Warehouse } from "../../src/warehouse/warehouse.js";
import { createTestDatabase, pgServer, pingPostgres } from "../support/postgres.js";
import { serviceAvailable } from "../support/require-service.js";

// A stream batch's positions are claimed in its publish transaction, each once per pipeline: the path
// workers sharing one consumer rely on (see claim-positions.ts). recordRun is the transaction used here
// (a batch with no rows to write); the publish of rows claims the same way, first in its transaction.

const PIPELINE = "events";

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

/** Records run `runId` as one loaded stream batch holding `positions`. */
function publishBatch(
  warehouse: Warehouse,
  runId: string,
  positions: readonly string[],
  afterClaim?: () => Promise<void>,
): Promise<void> {
  const batch = `stream:${PIPELINE}/${runId}`;
  const claim: PositionClaim = { batches: [{ batch, positions }], afterClaim };
  return warehouse.recordRun(
    runOf(runId),
    [
      {
        runId,
        pipeline: PIPELINE,
        path: batch,
        sha256: `digest-${runId}`,
        size: 1,
        status: "loaded",
        rowsRead: positions.length,
        rowsLoaded: positions.length,
        archivedTo: null,
        error: null,
      },
    ],
    undefined,
    claim,
  );
}

async function published(warehouse: Warehouse, positions: readonly string[]): Promise<string[]> {
  const rows = await warehouse.query(publishedPositionsSql(PIPELINE, positions));
  return rows.map((r) => String(r.position)).sort();
}

async function runsRecorded(warehouse: Warehouse): Promise<string[]> {
  const rows = await warehouse.query("SELECT run_id FROM sluice.runs ORDER BY run_id");
  return rows.map((r) => String(r.run_id));
}

/** The cases both warehouses must pass. */
function claimCases(open: () => Promise<Warehouse>): void {
  it("publishes a position once: an overlapping claim fails whole, before what follows it runs", async () => {
    const warehouse = await open();
    try {
      const followed: string[] = [];
      await publishBatch(warehouse, "r1", ["1", "2", "3"], async () => void followed.push("r1"));
      const conflict = await publishBatch(
        warehouse,
        "r2",
        ["3", "4"],
        async () => void followed.push("r2"),
      ).then(
        () => undefined,
        (error: unknown) => error,
      );
      expect(conflict).toMatchObject({ code: "STREAM_CONFLICT" });
      expect(String((conflict as Error).message)).toMatch(
        /1 of its 2 stream position\(s\) were published meanwhile/,
      );
      // Nothing of the refused batch: its free position, its run, what follows the claim (the lake commit).
      expect(followed).toEqual(["r1"]);
      expect(await published(warehouse, ["1", "2", "3", "4"])).toEqual(["1", "2", "3"]);
      expect(await runsRecorded(warehouse)).toEqual(["r1"]);
      // Its retry without the published position goes through.
      await publishBatch(warehouse, "r3", ["4"]);
      expect(await published(warehouse, ["1", "2", "3", "4"])).toEqual(["1", "2", "3", "4"]);
    } finally {
      await warehouse.close();
    }
  });

  it("still reads positions an earlier build recorded before the publish (sluice.stream_positions)", async () => {
    const warehouse = await open();
    try {
      // The earlier build: positions recorded first, published when their batch's ledger row is loaded.
      await publishBatch(warehouse, "old-loaded", []);
      for (const [position, batch] of [
        ["7", `stream:${PIPELINE}/old-loaded`],
        ["8", `stream:${PIPELINE}/old-failed`],
      ]) {
        await warehouse.query(
          `INSERT INTO sluice.stream_positions (pipeline, position, batch) VALUES ('${PIPELINE}', '${position}', '${batch}')`,
        );
      }
      expect(await published(warehouse, ["7", "8"])).toEqual(["7"]);
    } finally {
      await warehouse.close();
    }
  });

  it("finds published positions among many, and positions holding a comma", async () => {
    const warehouse = await open();
    try {
      const many = Array.from({ length: 5_000 }, (_, i) => String(i + 1_000));
      await publishBatch(warehouse, "many", many.slice(0, 2_500));
      await publishBatch(warehouse, "comma", ["x,1"]);
      expect(await published(warehouse, many)).toEqual(many.slice(0, 2_500).sort());
      const found = await published(warehouse, [...many, "x,1", "x"]);
      expect(found).toHaveLength(2_501);
      expect(found).toContain("x,1");
      expect(found).not.toContain("x");
      expect(found).not.toContain("3500");
    } finally {
      await warehouse.close();
    }
  });
}

describe("stream position claims: DuckDB", () => {
  let dir: string;
  let n = 0;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), "sluice-claims-"));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  claimCases(() => openDuckDbWarehouse({ file: join(dir, `w${n++}.duckdb`) }));
});

const pgUp = await serviceAvailable(`PostgreSQL at ${pgServer}`, pingPostgres);

describe.skipIf(!pgUp)("stream position claims: PostgreSQL", () => {
  const cleanups: (() => Promise<void>)[] = [];
  afterAll(async () => {
    for (const cleanup of cleanups) await cleanup();
  });
  const open = async () => {
    const db = await createTestDatabase();
    cleanups.push(db.cleanup);
    return openPostgresWarehouse({ url: db.url, retries: 0 });
  };
  claimCases(open);

  it("a claim in flight is waited for: the second claimant fails once the first commits, never reaching what follows its claim", async () => {
    const db = await createTestDatabase();
    cleanups.push(db.cleanup);
    const first = await openPostgresWarehouse({ url: db.url, retries: 0 });
    const second = await openPostgresWarehouse({ url: db.url, retries: 0 });
    try {
      let release!: () => void;
      const held = new Promise<void>((done) => {
        release = done;
      });
      let firstClaimed!: () => void;
      const claimedByFirst = new Promise<void>((done) => {
        firstClaimed = done;
      });
      const followed: string[] = [];
      // The first worker has claimed 10..12 and is committing to the lake (held here).
      const a = publishBatch(first, "a", ["10", "11", "12"], async () => {
        followed.push("a");
        firstClaimed();
        await held;
      });
      await claimedByFirst;
      // The second worker got 12 again (its ack wait ran out) and claims 12..13 meanwhile.
      let settled = false;
      const b = publishBatch(second, "b", ["12", "13"], async () => void followed.push("b")).then(
        () => {
          settled = true;
          return undefined;
        },
        (error: unknown) => {
          settled = true;
          return error;
        },
      );
      await sleep(500);
      expect(settled).toBe(false);
      release();
      await a;
      expect(await b).toMatchObject({ code: "STREAM_CONFLICT" });
      expect(followed).toEqual(["a"]);
      expect(await published(first, ["10", "11", "12", "13"])).toEqual(["10", "11", "12"]);
    } finally {
      await first.close();
      await second.close();
    }
  });
});
