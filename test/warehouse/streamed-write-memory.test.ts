import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type DuckDBConnection, DuckDBInstance } from "@duckdb/node-api";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { withStreamedWriteMemory } from "../../src/warehouse/streamed-write-memory.js";

async function setting(con: DuckDBConnection, name: string): Promise<string> {
  const rows = (await con.runAndReadAll(`SELECT current_setting('${name}')::VARCHAR AS v`)).getRows();
  return String(rows[0]![0]);
}

async function inTransaction(con: DuckDBConnection, work: () => Promise<void>): Promise<void> {
  await con.run("BEGIN TRANSACTION");
  try {
    await work();
    await con.run("COMMIT");
  } catch (error) {
    await con.run("ROLLBACK").catch(() => undefined);
    throw error;
  }
}

/** Rows, distinct ids and total text length of `t`. */
async function contents(con: DuckDBConnection): Promise<number[]> {
  const rows = await con.runAndReadAll(
    "SELECT count(*)::BIGINT, count(DISTINCT i)::BIGINT, sum(length(v))::BIGINT FROM t",
  );
  return rows.getRows()[0]!.map(Number);
}

describe("withStreamedWriteMemory", () => {
  let dir: string;
  let instance: DuckDBInstance;
  let con: DuckDBConnection;
  const saved = process.env.SLUICE_MEMORY_LIMIT;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "sluice-streamed-write-"));
    instance = await DuckDBInstance.create(join(dir, "w.duckdb"), { memory_limit: "1GB", threads: "2" });
    con = await instance.connect();
  });
  afterEach(() => {
    if (saved === undefined) delete process.env.SLUICE_MEMORY_LIMIT;
    else process.env.SLUICE_MEMORY_LIMIT = saved;
  });
  afterAll(async () => {
    con?.closeSync();
    instance?.closeSync();
    await rm(dir, { recursive: true, force: true });
  });

  it("writes under a limit sized by the threads, then gives the run its limit back, also when the write fails", async () => {
    delete process.env.SLUICE_MEMORY_LIMIT;
    const before = await setting(con, "memory_limit");
    // 2 threads: the 192 MB floor (DuckDB shows MiB).
    expect(await withStreamedWriteMemory(con, () => setting(con, "memory_limit"))).toEqual({
      result: "183.1 MiB",
      retried: false,
    });
    expect(await setting(con, "memory_limit")).toBe(before);
    await expect(
      withStreamedWriteMemory(con, async () => {
        throw new Error("write failed");
      }),
    ).rejects.toThrow("write failed");
    expect(await setting(con, "memory_limit")).toBe(before);
    await con.run("SET threads = 4");
    expect((await withStreamedWriteMemory(con, () => setting(con, "memory_limit"))).result).toBe("366.2 MiB");
    await con.run("SET threads = 2");
  });

  it("keeps a limit someone chose (SLUICE_MEMORY_LIMIT)", async () => {
    process.env.SLUICE_MEMORY_LIMIT = "1GB";
    const before = await setting(con, "memory_limit");
    expect((await withStreamedWriteMemory(con, () => setting(con, "memory_limit"))).result).toBe(before);
  });

  it("writes rows of several megabytes again under the run's limit, once: the failed commit left nothing", async () => {
    delete process.env.SLUICE_MEMORY_LIMIT;
    await con.run("CREATE TABLE t (i BIGINT, v VARCHAR)");
    await con.run("INSERT INTO t VALUES (-1, 'before')");
    const limits: string[] = [];
    // Small rows first, then 30 rows of 8 MB: a row group of them does not fit the 192 MB cap.
    const write = () =>
      inTransaction(con, async () => {
        limits.push(await setting(con, "memory_limit"));
        await con.run("INSERT INTO t SELECT i, 'small' FROM range(1000) r(i)");
        await con.run("INSERT INTO t SELECT 1000 + i, repeat('x', 8000000) FROM range(30) r(i)");
      });
    const { retried } = await withStreamedWriteMemory(con, write);
    expect(retried).toBe(true);
    expect(limits).toEqual(["183.1 MiB", "953.6 MiB"]);
    expect(await setting(con, "memory_limit")).toBe("953.6 MiB");
    const expected = [1031, 1031, 6 + 1000 * 5 + 30 * 8_000_000];
    expect(await contents(con)).toEqual(expected);
    // And in the file: nothing of the failed try is replayed when the database opens again.
    con.closeSync();
    instance.closeSync();
    instance = await DuckDBInstance.create(join(dir, "w.duckdb"), { memory_limit: "1GB", threads: "2" });
    con = await instance.connect();
    expect(await contents(con)).toEqual(expected);
  });
});
