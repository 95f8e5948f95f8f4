import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { scratchRoot } from "../../src/storage/scratch-dir.js";
import { openPostgresWarehouse } from "../../src/warehouse/postgres-warehouse.js";
import type { LedgerEntry, PublishBatch, RunRecord, Warehouse } from "../../src/warehouse/warehouse.js";
import { createTestDatabase, pgServer, pingPostgres } from "../support/postgres.js";
import { serviceAvailable } from "../support/require-service.js";

const available = await serviceAvailable(`PostgreSQL at ${pgServer}`, pingPostgres);

// The profile beside a single pass's write on PostgreSQL learns the batch's row count (it chooses how
// distinct values are counted: exactly without one, a costly count(DISTINCT) of every column): an append
// from its export, a merge from the aggregate over its stage.
describe.skipIf(!available)("postgres single pass: the work beside the write knows the batch's rows", () => {
  let db: Awaited<ReturnType<typeof createTestDatabase>>;
  let warehouse: Warehouse;
  let dir: string;

  beforeAll(async () => {
    db = await createTestDatabase();
    warehouse = await openPostgresWarehouse({ url: db.url });
    // Inside Sluice's scratch folder: what the engine may read by default.
    dir = mkdtempSync(join(scratchRoot(), "profile-rows-"));
  });
  afterAll(async () => {
    await warehouse?.close();
    await db?.cleanup();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  /** A single-pass batch (completed after the write) of a 1000-row CSV file; records what the work beside got. */
  function batch(runId: string, target: PublishBatch["target"], seen: (number | undefined)[]): PublishBatch {
    const file = join(dir, `${runId}.csv`);
    const lines = Array.from({ length: 1000 }, (_, i) => `${i},name ${i}`);
    writeFileSync(file, `id,name\n${lines.join("\n")}\n`);
    const startedAt = new Date("2026-01-01T00:00:00Z");
    const run: RunRecord = {
      runId,
      pipeline: target.table!,
      status: "succeeded",
      startedAt,
      finishedAt: startedAt,
      report: { run_id: runId, started_at: startedAt.toISOString() },
    };
    const ledger: LedgerEntry[] = [
      {
        runId,
        pipeline: target.table!,
        path: "in/a.csv",
        sha256: "",
        size: 10,
        status: "loaded",
        rowsRead: 1000,
        rowsLoaded: 1000,
        archivedTo: null,
        error: null,
      },
    ];
    return {
      run,
      target,
      rowsSql: `SELECT *, '${runId}' AS _sluice_run_id, 'in/a.csv' AS _sluice_source_file, TIMESTAMPTZ '2026-01-01 00:00:00+00' AS _sluice_loaded_at FROM read_csv('${file}', header = true, columns = {'id': 'BIGINT', 'name': 'VARCHAR'})`,
      replaces: [],
      ledger,
      checks: [],
      completeAfterWrite: async () => ({ run, ledger }),
      alongsideWrite: async (rows) => {
        seen.push(rows);
        return {};
      },
    };
  }

  it("append: the rows the export handed over", async () => {
    const seen: (number | undefined)[] = [];
    const target = { table: "appended", mode: "append" } as PublishBatch["target"];
    const result = await warehouse.publish(batch("20260101T000000Z-rows-a", target, seen));
    expect(result.inserted).toBe(1000);
    expect(seen).toEqual([1000]);
  });

  it("merge: the rows its stage counted", async () => {
    await warehouse.query("CREATE TABLE merged (id bigint PRIMARY KEY, name text)");
    await warehouse.query("INSERT INTO merged VALUES (0, 'old'), (5000, 'kept')");
    const seen: (number | undefined)[] = [];
    const target = { table: "merged", mode: "merge", keys: ["id"] } as PublishBatch["target"];
    const result = await warehouse.publish(batch("20260101T000000Z-rows-m", target, seen));
    expect(result).toMatchObject({ inserted: 999, updated: 1 });
    expect(seen).toEqual([1000]);
    expect(await warehouse.query("SELECT count(*)::int AS n, max(id)::int AS top FROM merged")).toEqual([
      { n: 1001, top: 5000 },
    ]);
  });
});
