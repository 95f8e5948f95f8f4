import { type DuckDBConnection, DuckDBInstance } from "@duckdb/node-api";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { withStreamedWriteMemory } from "../../src/warehouse/streamed-write-memory.js";

async function setting(con: DuckDBConnection, name: string): Promise<string> {
  const rows = (await con.runAndReadAll(`SELECT current_setting('${name}')::VARCHAR AS v`)).getRows();
  return String(rows[0]![0]);
}

describe("withStreamedWriteMemory", () => {
  let instance: DuckDBInstance;
  let con: DuckDBConnection;
  const saved = process.env.SLUICE_MEMORY_LIMIT;

  beforeAll(async () => {
    instance = await DuckDBInstance.create(":memory:", { memory_limit: "1GB", threads: "2" });
    con = await instance.connect();
  });
  afterEach(() => {
    if (saved === undefined) delete process.env.SLUICE_MEMORY_LIMIT;
    else process.env.SLUICE_MEMORY_LIMIT = saved;
  });
  afterAll(() => {
    con?.closeSync();
    instance?.closeSync();
  });

  it("writes under a limit sized by the threads, then gives the run its limit back, also when the write fails", async () => {
    delete process.env.SLUICE_MEMORY_LIMIT;
    const before = await setting(con, "memory_limit");
    // 2 threads: the 192 MB floor (DuckDB shows MiB).
    expect(await withStreamedWriteMemory(con, () => setting(con, "memory_limit"))).toBe("183.1 MiB");
    expect(await setting(con, "memory_limit")).toBe(before);
    await expect(
      withStreamedWriteMemory(con, async () => {
        throw new Error("write failed");
      }),
    ).rejects.toThrow("write failed");
    expect(await setting(con, "memory_limit")).toBe(before);
    await con.run("SET threads = 4");
    expect(await withStreamedWriteMemory(con, () => setting(con, "memory_limit"))).toBe("366.2 MiB");
    await con.run("SET threads = 2");
  });

  it("keeps a limit someone chose (SLUICE_MEMORY_LIMIT)", async () => {
    process.env.SLUICE_MEMORY_LIMIT = "1GB";
    const before = await setting(con, "memory_limit");
    expect(await withStreamedWriteMemory(con, () => setting(con, "memory_limit"))).toBe(before);
  });
});
