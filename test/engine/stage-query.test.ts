import { DuckDBInstance } from "@duckdb/node-api";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { stageQuery } from "../../src/engine/stage-query.js";

let instance: DuckDBInstance;
let con: Awaited<ReturnType<DuckDBInstance["connect"]>>;

beforeAll(async () => {
  instance = await DuckDBInstance.create(":memory:");
  con = await instance.connect();
  // Orders of three days; day 0 is long past, the others recent.
  await con.run(`CREATE TABLE orders AS SELECT * FROM (VALUES
      (1, (current_date - 30)::DATE, 10, TIMESTAMP '2026-01-01 10:00:00'),
      (2, (current_date - 1)::DATE, 20, TIMESTAMP '2026-01-02 10:00:00'),
      (3, current_date::DATE, 30, TIMESTAMP '2026-01-03 10:00:00'),
      (4, (current_date - 1)::DATE, 40, TIMESTAMP '2026-01-04 10:00:00'),
      (5, (current_date - 30)::DATE, 50, TIMESTAMP '2026-01-05 10:00:00')
    ) t(id, day, amount, updated_at)`);
});
afterAll(() => {
  con.closeSync();
  instance.closeSync();
});

async function ids(table: string): Promise<number[]> {
  const reader = await con.runAndReadAll(`SELECT id FROM "${table}" ORDER BY id`);
  return reader.getRowObjectsJson().map((r) => Number(r.id));
}

describe("stageQuery", () => {
  it("stages a table or a query like a file, with the high-water mark of the cursor", async () => {
    const all = await stageQuery(con, { source: { table: "orders" }, columns: {}, tablePrefix: "q1" });
    expect(all.accepted).toBe(5);
    expect(all.columns.map((c) => c.name)).toEqual(["id", "day", "amount", "updated_at"]);
    const sql = await stageQuery(con, {
      source: { sql: "select id, amount * 2 as doubled from orders where id > 3;" },
      columns: { doubled: { type: "DOUBLE" } },
      tablePrefix: "q2",
    });
    expect(sql.columns.map((c) => c.name)).toEqual(["id", "doubled"]);
    expect(await ids("q2_stage")).toEqual([4, 5]);
  });

  it("reads only rows above the cursor (minus the lag)", async () => {
    const cursor = { column: "updated_at", after: "2026-01-03 10:00:00", overlapMs: 0 };
    const staged = await stageQuery(con, {
      source: { table: "orders" },
      columns: {},
      cursor,
      tablePrefix: "q3",
    });
    expect(await ids("q3_stage")).toEqual([4, 5]);
    expect(staged.cursorMax).toBe("2026-01-05 10:00:00");
    await stageQuery(con, {
      source: { table: "orders" },
      columns: {},
      cursor: { ...cursor, overlapMs: 86_400_000 },
      tablePrefix: "q4",
    });
    expect(await ids("q4_stage")).toEqual([3, 4, 5]);
  });

  it("late data: re-stages every recent partition a new row touched, not the old ones", async () => {
    const staged = await stageQuery(con, {
      source: { table: "orders" },
      columns: {},
      cursor: {
        column: "updated_at",
        after: "2026-01-03 10:00:00",
        overlapMs: 0,
        partitionBy: ["day"],
        windowMs: 3 * 86_400_000,
      },
      tablePrefix: "q5",
    });
    // New rows: 4 (yesterday: recent, so all of yesterday = 2 and 4) and 5 (30 days ago: outside the window).
    expect(await ids("q5_stage")).toEqual([2, 4]);
    expect(staged.warnings).toEqual([
      "1 new row(s) belong to partitions older than late_data_window; those partitions are not re-processed",
    ]);
  });
});
