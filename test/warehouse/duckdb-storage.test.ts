import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DuckDBInstance } from "@duckdb/node-api";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { openDuckDbWarehouse } from "../../src/warehouse/duckdb-warehouse.js";

/** The compression DuckDB chose for a constant text column written through the warehouse. */
async function constantTextCompression(file: string): Promise<string> {
  const warehouse = await openDuckDbWarehouse({ file });
  try {
    await warehouse.query("CREATE OR REPLACE TABLE probe AS SELECT 'in/orders.csv' AS f FROM range(100000)");
    await warehouse.query("CHECKPOINT");
    const rows = await warehouse.query(
      "SELECT DISTINCT compression FROM pragma_storage_info('probe') WHERE segment_type = 'VARCHAR'",
    );
    return rows.map((r) => String(r.compression)).join(",");
  } finally {
    await warehouse.close();
  }
}

describe("DuckDB warehouse storage format", () => {
  let dir: string;
  const saved = process.env.SLUICE_DUCKDB_STORAGE_VERSION;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), "sluice-storage-"));
    delete process.env.SLUICE_DUCKDB_STORAGE_VERSION;
  });
  afterEach(() => {
    rmSync(dir, { recursive: true, force: true });
    if (saved === undefined) delete process.env.SLUICE_DUCKDB_STORAGE_VERSION;
    else process.env.SLUICE_DUCKDB_STORAGE_VERSION = saved;
  });

  it("creates new warehouse files in the v1.3 format, whose text compression is DICT_FSST", async () => {
    expect(await constantTextCompression(join(dir, "new.duckdb"))).toBe("DICT_FSST");
  });

  it("leaves an existing file in the format it was created with", async () => {
    const file = join(dir, "old.duckdb");
    const instance = await DuckDBInstance.create(file); // DuckDB's default format (v0.10.2)
    (await instance.connect()).closeSync();
    instance.closeSync();
    expect(await constantTextCompression(file)).toBe("Dictionary");
  });

  it("takes another format from SLUICE_DUCKDB_STORAGE_VERSION and rejects a malformed one", async () => {
    process.env.SLUICE_DUCKDB_STORAGE_VERSION = "v1.0.0";
    expect(await constantTextCompression(join(dir, "v1.duckdb"))).toBe("Dictionary");
    process.env.SLUICE_DUCKDB_STORAGE_VERSION = "newest";
    await expect(openDuckDbWarehouse({ file: join(dir, "bad.duckdb") })).rejects.toThrow(
      /SLUICE_DUCKDB_STORAGE_VERSION=newest: expected a DuckDB version like v1.3.0/,
    );
  });

  it("names the variable when DuckDB does not know the version asked for", async () => {
    process.env.SLUICE_DUCKDB_STORAGE_VERSION = "v9.9.9";
    await expect(openDuckDbWarehouse({ file: join(dir, "future.duckdb") })).rejects.toThrow(
      /SLUICE_DUCKDB_STORAGE_VERSION=v9\.9\.9: not a storage version this DuckDB knows/,
    );
  });
});
