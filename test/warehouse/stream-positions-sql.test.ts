import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { openDuckDbWarehouse } from "../../src/warehouse/duckdb-warehouse.js";
import { openPostgresWarehouse } from "../../src/warehouse/postgres-warehouse.js";
import type { Warehouse } from "../../src/warehouse/warehouse.js";
import { createTestDatabase, pgServer, pingPostgres } from "../support/postgres.js";
import { serviceAvailable } from "../support/require-service.js";

const pgAvailable = await serviceAvailable(`PostgreSQL at ${pgServer}`, pingPostgres);

const natsPositions = Array.from({ length: 10_000 }, (_, i) => String(i + 1));
const redisPositions = ["1733567000000-0", "1733567000000-1", "1733567000123-0"];

/** Every position recorded once, under its batch, whichever form the statement takes. */
async function expectRecorded(w: Warehouse): Promise<void> {
  await w.recordStreamPositions("events", "stream:events/a", natsPositions);
  await w.recordStreamPositions("events", "stream:events/b", redisPositions);
  // A position holding a comma cannot travel in the comma-separated list: it is listed as a tuple.
  await w.recordStreamPositions("events", "stream:events/c", ["x,1", "y"]);
  const rows = await w.query(
    "SELECT batch, count(*) AS n, count(DISTINCT position) AS d, min(position) AS lo, max(position) AS hi FROM sluice.stream_positions WHERE pipeline = 'events' GROUP BY batch ORDER BY batch",
  );
  expect(rows.map((r) => [r.batch, Number(r.n), Number(r.d), r.lo, r.hi])).toEqual([
    ["stream:events/a", 10_000, 10_000, "1", "9999"],
    ["stream:events/b", 3, 3, "1733567000000-0", "1733567000123-0"],
    ["stream:events/c", 2, 2, "x,1", "y"],
  ]);
}

describe("stream positions are recorded in one statement", () => {
  const dir = mkdtempSync(join(tmpdir(), "sluice-positions-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("on DuckDB", async () => {
    const w = await openDuckDbWarehouse({ file: join(dir, "w.duckdb") });
    try {
      await expectRecorded(w);
    } finally {
      await w.close();
    }
  });

  it.skipIf(!pgAvailable)("on PostgreSQL", async () => {
    const db = await createTestDatabase();
    const w = await openPostgresWarehouse({ url: db.url });
    try {
      await expectRecorded(w);
    } finally {
      await w.close();
      await db.cleanup();
    }
  });
});
