import { describe, expect, it } from "vitest";
import type { QueryStageRequest } from "../../src/engine/stage-query.js";
import { postgresEngineType } from "../../src/warehouse/postgres-engine-type.js";
import { postgresIncrementalSql } from "../../src/warehouse/postgres-incremental-sql.js";

const fields = [
  { name: "id", dataTypeID: 20, dataTypeModifier: -1 },
  { name: "day", dataTypeID: 1082, dataTypeModifier: -1 },
  { name: "at", dataTypeID: 1184, dataTypeModifier: -1 },
  { name: "region", dataTypeID: 25, dataTypeModifier: -1 },
];
const request = (cursor: QueryStageRequest["cursor"]): QueryStageRequest => ({
  source: { table: "orders" },
  columns: {},
  tablePrefix: "q0",
  cursor,
});

describe("postgresIncrementalSql", () => {
  it("reads everything without a mark, above it with one, minus the lag for temporal cursors", () => {
    expect(postgresIncrementalSql('"orders"', fields, request(undefined)).sql).toBe(`SELECT * FROM "orders"`);
    expect(
      postgresIncrementalSql('"orders"', fields, request({ column: "id", after: null, overlapMs: 0 })).sql,
    ).toBe(`SELECT * FROM "orders"`);
    expect(
      postgresIncrementalSql('"orders"', fields, request({ column: "id", after: "7", overlapMs: 60_000 }))
        .sql,
    ).toBe(`SELECT * FROM "orders" WHERE "id" > '7'`);
    expect(
      postgresIncrementalSql(
        '"orders"',
        fields,
        request({ column: "at", after: "2026-01-01 10:00:00+00", overlapMs: 600_000 }),
      ).sql,
    ).toBe(
      `SELECT * FROM "orders" WHERE "at" > '2026-01-01 10:00:00+00'::timestamptz - interval '600000 milliseconds'`,
    );
  });

  it("late data: re-reads the partitions new rows touched, within the window of a date partition", () => {
    const now = new Date(2026, 0, 10, 12, 0, 0);
    const cursor = { column: "id", after: "7", overlapMs: 0, windowMs: 3 * 86_400_000 };
    const byDay = postgresIncrementalSql(
      '"orders"',
      fields,
      request({ ...cursor, partitionBy: ["day"] }),
      now,
    );
    const newRows = `SELECT * FROM "orders" WHERE "id" > '7'`;
    const recent = `("day" IS NULL OR "day" >= '2026-01-07 12:00:00.000'::timestamp)`;
    expect(byDay).toEqual({
      sql: `SELECT * FROM "orders" WHERE ("day") IN (SELECT DISTINCT "day" FROM (${newRows}) AS n WHERE ${recent})`,
      outsideWindowSql: `SELECT * FROM (${newRows}) AS n WHERE NOT ${recent}`,
    });
    const byRegion = postgresIncrementalSql(
      '"orders"',
      fields,
      request({ ...cursor, partitionBy: ["region", "day"] }),
      now,
    );
    expect(byRegion.sql).toContain(`WHERE ("region", "day") IN (SELECT DISTINCT "region", "day" FROM`);
    expect(byRegion.outsideWindowSql).toMatch(/WHERE NOT TRUE$/);
  });

  it("names a cursor or partition the source does not have", () => {
    expect(() =>
      postgresIncrementalSql('"orders"', fields, request({ column: "ts", after: "1", overlapMs: 0 })),
    ).toThrow("incremental.cursor ts: the source has no such column (it has id, day, at, region)");
  });
});

describe("postgresEngineType", () => {
  it("maps PostgreSQL types to DuckDB, numeric by its precision", () => {
    const numeric = (precision: number, scale: number) => ((precision << 16) | scale) + 4;
    expect(postgresEngineType(1700, numeric(12, 2))).toBe("DECIMAL(12,2)");
    expect(postgresEngineType(1700, numeric(39, 2))).toBe("DOUBLE");
    expect(postgresEngineType(1700, -1)).toBeUndefined();
    expect(
      [20, 21, 23, 16, 1082, 1114, 1184, 3802, 2950, 1043].map((oid) => postgresEngineType(oid, -1)),
    ).toEqual([
      "BIGINT",
      "SMALLINT",
      "INTEGER",
      "BOOLEAN",
      "DATE",
      "TIMESTAMP",
      "TIMESTAMPTZ",
      "JSON",
      "UUID",
      "VARCHAR",
    ]);
    expect(postgresEngineType(1186, -1)).toBe("VARCHAR"); // interval
  });
});
