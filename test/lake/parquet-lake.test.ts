import { readdir } from "node:fs/promises";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { latestManifest, registerParquetLakeView, writeParquetLake } from "../../src/lake/index.js";
import { localStorage } from "../../src/storage/local-storage.js";
import { useMemoryDuckdb } from "../support/memory-duckdb.js";

const db = useMemoryDuckdb("sluice-parquet-lake-");

describe("parquet lake", () => {
  it("writes hive folders, publishes through a manifest and reads back typed partitions", async () => {
    const table = { storage: localStorage(db.dir), path: "events" };
    const sql =
      "SELECT range AS id, (DATE '2024-01-01' + (range % 3)::INTEGER) AS day, CASE WHEN range % 4 = 0 THEN 'a/b c' END AS k FROM range(100)";
    const r = await writeParquetLake(db.con, table, sql, { partitionBy: ["day", "k"] });
    expect(r).toMatchObject({ version: 0, rows: 100, filesAdded: 6 });
    expect((await readdir(join(db.dir, "events"))).sort()).toEqual([
      "_manifests",
      "_staging",
      "day=2024-01-01",
      "day=2024-01-02",
      "day=2024-01-03",
    ]);
    expect(await readdir(join(db.dir, "events/day=2024-01-01"))).toEqual(
      expect.arrayContaining(["k=a%2Fb c", "k=__HIVE_DEFAULT_PARTITION__"]),
    );
    await writeParquetLake(db.con, table, sql, { partitionBy: ["day", "k"] });
    await registerParquetLakeView(db.con, table, "events_v");
    const rows = (
      await db.con.runAndReadAll("SELECT count(*), count(k), typeof(any_value(day)), max(k) FROM events_v")
    ).getRows()[0];
    expect(rows).toEqual([200n, 50n, "DATE", "a/b c"]);
    const o = await writeParquetLake(db.con, table, "SELECT 1 AS id, DATE '2024-02-01' AS day, 'x' AS k", {
      mode: "overwrite",
      partitionBy: ["day", "k"],
    });
    expect(o.version).toBe(2);
    expect((await latestManifest(table))!.files.length).toBe(1);
    await registerParquetLakeView(db.con, table, "events_v");
    expect((await db.con.runAndReadAll("SELECT count(*) FROM events_v")).getRows()[0]![0]).toBe(1n);
  });
});
