import { mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DuckDBInstance } from "@duckdb/node-api";
import { describe, expect, it } from "vitest";
import { loadSnapshot, writeDelta } from "../../src/lake/index.js";
import { localStorage } from "../../src/storage/local-storage.js";

describe("data file statistics from the COPY itself", () => {
  it("match the data: numbers, decimals, strings, dates, UTC timestamps, NULL-only columns, partitions", async () => {
    const instance = await DuckDBInstance.create(":memory:");
    const con = await instance.connect();
    await con.run("SET TimeZone = 'America/New_York'");
    const lake = localStorage(await mkdtemp(join(tmpdir(), "sluice-stats-")));
    const table = { storage: lake, path: "t" };
    await writeDelta(
      con,
      table,
      `SELECT i AS id, (i * 1.25)::DECIMAL(10,2) AS amount, i / 4 AS ratio, 'name ' || i AS name,
         repeat('x', 40) AS long_text, DATE '2024-01-01' + i::INT AS day,
         TIMESTAMPTZ '2024-03-01 12:00:00.123456+00' + to_seconds(i) AS at, NULL::INTEGER AS nothing,
         CASE WHEN i % 2 = 0 THEN 'even' ELSE 'odd' END AS parity, i % 3 = 0 AS flag
       FROM range(1, 11) t(i)`,
      { partitionBy: ["parity"] },
    );
    const snapshot = await loadSnapshot(con, table);
    const even = snapshot.files.find((f) => f.partitionValues.parity === "even")!;
    const stats = JSON.parse(even.stats!);
    expect(stats.numRecords).toBe(5);
    expect(stats.minValues).toEqual({
      id: 2,
      amount: 2.5,
      ratio: 0.5,
      name: "name 10",
      day: "2024-01-03",
      at: "2024-03-01T12:00:02.123456Z",
    });
    expect(stats.maxValues).toEqual({
      id: 10,
      amount: 12.5,
      ratio: 2.5,
      name: "name 8",
      day: "2024-01-11",
      at: "2024-03-01T12:00:10.123456Z",
    });
    expect(stats.nullCount).toEqual({
      id: 0,
      amount: 0,
      ratio: 0,
      name: 0,
      long_text: 0,
      day: 0,
      at: 0,
      nothing: 5,
      flag: 0,
    });
    con.closeSync();
    instance.closeSync();
  });
});
