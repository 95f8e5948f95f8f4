import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type DuckDBConnection, DuckDBInstance } from "@duckdb/node-api";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadExtract } from "../../src/sources/load-extract.js";
import type { ExtractColumn } from "../../src/sources/type-map.js";

const columns: ExtractColumn[] = [
  { name: "id", engineType: "BIGINT", loadSql: (t) => `CAST(${t} AS BIGINT)` },
  { name: "note", engineType: "VARCHAR", loadSql: (t) => `CAST(${t} AS VARCHAR)` },
];

async function rows(con: DuckDBConnection, sql: string): Promise<Record<string, unknown>[]> {
  return (await con.runAndReadAll(sql)).getRowObjectsJson() as Record<string, unknown>[];
}

/** The physical operators of a query's plan, one name per line of EXPLAIN's boxes. */
async function plan(con: DuckDBConnection, sql: string): Promise<string> {
  return (await con.runAndReadAll(`EXPLAIN ${sql}`))
    .getRows()
    .map((r) => String(r[1]))
    .join("\n");
}

describe("loadExtract in place", () => {
  let dir: string;
  let instance: DuckDBInstance;
  let con: DuckDBConnection;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "sluice-load-extract-"));
    // COPY's CSV: NULL unquoted and empty, an empty string quoted, a quoted line break.
    writeFileSync(join(dir, "x.csv"), '1,a\n2,\n3,""\n4,"two\nlines"\n');
    instance = await DuckDBInstance.create(":memory:");
    con = await instance.connect();
  });
  afterAll(() => {
    con?.closeSync();
    instance?.closeSync();
    rmSync(dir, { recursive: true, force: true });
  });

  it("numbers lines in the stage, and reads the rows for the batch without the window that serializes the read", async () => {
    const rowsView = await loadExtract(con, join(dir, "x.csv"), "x_stage", columns, "test", true);
    expect(rowsView).toBe("x_stage_rows");
    expect(await rows(con, "SELECT id, note, _sluice_line FROM x_stage ORDER BY _sluice_line")).toEqual([
      { id: "1", note: "a", _sluice_line: "1" },
      { id: "2", note: null, _sluice_line: "2" },
      { id: "3", note: "", _sluice_line: "3" },
      { id: "4", note: "two\nlines", _sluice_line: "4" },
    ]);
    expect(await rows(con, "SELECT * FROM x_stage_rows ORDER BY id")).toEqual([
      { id: "1", note: "a" },
      { id: "2", note: null },
      { id: "3", note: "" },
      { id: "4", note: "two\nlines" },
    ]);
    expect(await plan(con, "SELECT * FROM x_stage")).toMatch(/WINDOW/);
    expect(await plan(con, "SELECT * FROM x_stage_rows")).not.toMatch(/WINDOW/);
  });

  it("stages a table numbered by line when the files do not outlive the stage", async () => {
    expect(await loadExtract(con, join(dir, "x.csv"), "y_stage", columns, "test", false)).toBeUndefined();
    expect(await rows(con, "SELECT count(*)::INT AS n, max(_sluice_line)::INT AS last FROM y_stage")).toEqual(
      [{ n: 4, last: 4 }],
    );
  });
});
