import { appendFileSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DuckDBInstance } from "@duckdb/node-api";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { fileRows } from "../../src/engine/file-rows.js";
import { csvSniffSql } from "../../src/plan/read-sql.js";

// A run sniffs a CSV file when it validates the project and again when it stages it: the second answer
// comes from memory while the file is unchanged, and from DuckDB again once it changed.

let dir: string;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "sluice-file-rows-"));
});

afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

describe("fileRows", () => {
  it("answers an unchanged file's query from memory, and asks DuckDB again once the file changed", async () => {
    const path = join(dir, "orders.csv");
    writeFileSync(path, "id;name\n1;a\n2;b\n");
    const sql = csvSniffSql(path, undefined, 1 << 20);
    const instance = await DuckDBInstance.create(":memory:");
    const con = await instance.connect();
    const first = await fileRows(con, path, sql);
    expect(first[0]?.Delimiter).toBe(";");
    // A closed connection cannot answer: the rows below come from memory.
    con.closeSync();
    instance.closeSync();
    const again = await fileRows(con, path, sql);
    expect(again).toEqual(first);
    // Callers may change what they get without changing what is remembered.
    (again[0] as Record<string, unknown>).Delimiter = "?";
    expect((await fileRows(con, path, sql))[0]?.Delimiter).toBe(";");

    appendFileSync(path, "3;c\n");
    await expect(fileRows(con, path, sql)).rejects.toThrow();
    const reopened = await DuckDBInstance.create(":memory:");
    const con2 = await reopened.connect();
    try {
      const changed = await fileRows(con2, path, sql);
      expect(changed[0]?.Delimiter).toBe(";");
    } finally {
      con2.closeSync();
      reopened.closeSync();
    }
  });

  it("does not remember a query of a file that does not exist", async () => {
    const path = join(dir, "missing.csv");
    const instance = await DuckDBInstance.create(":memory:");
    const con = await instance.connect();
    try {
      await expect(fileRows(con, path, csvSniffSql(path, undefined, 1 << 20))).rejects.toThrow();
      writeFileSync(path, "a,b\n1,2\n");
      expect((await fileRows(con, path, csvSniffSql(path, undefined, 1 << 20)))[0]?.Delimiter).toBe(",");
    } finally {
      con.closeSync();
      instance.closeSync();
    }
  });
});
