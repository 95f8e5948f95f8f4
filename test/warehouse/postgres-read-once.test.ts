import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { queryRows } from "../../src/engine/duckdb-query.js";
import { scratchRoot } from "../../src/storage/scratch-dir.js";
import { openPostgresWarehouse } from "../../src/warehouse/postgres-warehouse.js";
import type { LedgerEntry, PublishBatch, RunRecord, Warehouse } from "../../src/warehouse/warehouse.js";
import { createTestDatabase, pgServer, pingPostgres } from "../support/postgres.js";
import { serviceAvailable } from "../support/require-service.js";

const available = await serviceAvailable(`PostgreSQL at ${pgServer}`, pingPostgres);

/** What the work beside the write was given, and what it read from the engine table then. */
interface Beside {
  rows: number | undefined;
  relation: string | undefined;
  read?: { n: number; top: number };
}

// A single pass on PostgreSQL reads its files once, into an engine table, and the work beside the write
// (the run's profile) reads that table: not the files again (which cost more CPU than the read itself),
// and exactly the rows written even if a file changed meanwhile.
describe.skipIf(!available)("postgres single pass: the batch's files are read once", () => {
  let db: Awaited<ReturnType<typeof createTestDatabase>>;
  let warehouse: Warehouse;
  let dir: string;

  beforeAll(async () => {
    db = await createTestDatabase();
    warehouse = await openPostgresWarehouse({ url: db.url });
    // Inside Sluice's scratch folder: what the engine may read by default.
    dir = mkdtempSync(join(scratchRoot(), "read-once-"));
  });
  afterAll(async () => {
    await warehouse?.close();
    await db?.cleanup();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  /** A single-pass batch (completed after the write) of `file`'s rows; the work beside rewrites it. */
  function batch(
    runId: string,
    file: string,
    target: PublishBatch["target"],
    beside: Beside[],
  ): PublishBatch {
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
      alongsideWrite: async (rows, relation) => {
        const seen: Beside = { rows, relation };
        beside.push(seen);
        // The file changes under the run: what was read is what counts.
        writeFileSync(file, "id,name\n-1,changed\n");
        if (relation) {
          const [row] = await queryRows(
            warehouse.engine,
            `SELECT count(*) AS n, max(id) AS top FROM "${relation}"`,
          );
          seen.read = { n: Number(row?.n), top: Number(row?.top) };
        }
        return {};
      },
    };
  }

  const csv = (name: string) => {
    const file = join(dir, name);
    const lines = Array.from({ length: 1000 }, (_, i) => `${i},name ${i}`);
    writeFileSync(file, `id,name\n${lines.join("\n")}\n`);
    return file;
  };

  it("append: the profile's rows are the engine table the copy was exported from", async () => {
    const beside: Beside[] = [];
    const target = { table: "appended", mode: "append" } as PublishBatch["target"];
    const result = await warehouse.publish(batch("20260101T000000Z-once-a", csv("a.csv"), target, beside));
    expect(result.inserted).toBe(1000);
    expect(beside).toEqual([{ rows: 1000, relation: "sluice_batch_rows", read: { n: 1000, top: 999 } }]);
    expect(await warehouse.query("SELECT count(*)::int AS n, max(id)::int AS top FROM appended")).toEqual([
      { n: 1000, top: 999 },
    ]);
    // Dropped with the batch once the publish is over.
    const left = await queryRows(
      warehouse.engine,
      "SELECT count(*) AS n FROM duckdb_tables() WHERE table_name = 'sluice_batch_rows'",
    );
    expect(Number(left[0]?.n)).toBe(0);
  });

  it("merge: the same, with the rows the stage counted", async () => {
    await warehouse.query("CREATE TABLE merged (id bigint PRIMARY KEY, name text)");
    await warehouse.query("INSERT INTO merged VALUES (0, 'old'), (5000, 'kept')");
    const beside: Beside[] = [];
    const target = { table: "merged", mode: "merge", keys: ["id"] } as PublishBatch["target"];
    const result = await warehouse.publish(batch("20260101T000000Z-once-m", csv("m.csv"), target, beside));
    expect(result).toMatchObject({ inserted: 999, updated: 1 });
    expect(beside).toEqual([{ rows: 1000, relation: "sluice_batch_rows", read: { n: 1000, top: 999 } }]);
    expect(await warehouse.query("SELECT count(*)::int AS n, max(id)::int AS top FROM merged")).toEqual([
      { n: 1001, top: 5000 },
    ]);
  });
});
