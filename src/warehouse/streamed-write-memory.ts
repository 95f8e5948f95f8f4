import type { DuckDBConnection } from "@duckdb/node-api";
import { queryNumber } from "../engine/duckdb-query.js";
import { DEFAULT_MEMORY_LIMIT, engineMemorySettings } from "./duckdb-driver.js";

/** Engine memory per thread while a write streams its rows from files (two 32 MiB CSV buffers and more). */
const MB_PER_THREAD = 96;
const FLOOR_MB = 192;
/** The run's own limit (DEFAULT_MEMORY_LIMIT, e.g. 1GB) in MB: the cap never raises it. */
const DEFAULT_MB = Number.parseFloat(DEFAULT_MEMORY_LIMIT) * (/GB$/i.test(DEFAULT_MEMORY_LIMIT) ? 1024 : 1);

/**
 * Runs a write whose rows stream from files (a database extract read in place) under a lower engine
 * memory limit, then restores the run's. Such a write holds little that must stay in memory: the
 * CSV reader's buffers and each thread's row group being built. What grows with the row count is
 * the engine's cache of the blocks it has already written, kept up to the memory limit: at the
 * default 1 GB, 10M rows peaked at ~630 MB against ~340 MB for 1M; capped, ~390 against ~300. Written
 * blocks are on disk already and transient ones spill, so a lower limit costs no failure; the pinned
 * part (a CSV buffer per thread) is what the cap is sized for. Not when SLUICE_MEMORY_LIMIT is set: a
 * limit someone chose is kept as it is.
 *
 * @example
 * await withStreamedWriteMemory(con, () => con.run("INSERT INTO t SELECT * FROM extract_view"));
 */
export async function withStreamedWriteMemory<T>(con: DuckDBConnection, work: () => Promise<T>): Promise<T> {
  if (process.env.SLUICE_MEMORY_LIMIT?.trim()) return work();
  const threads = await queryNumber(con, "SELECT current_setting('threads')::BIGINT");
  const capMb = Math.min(DEFAULT_MB, Math.max(FLOOR_MB, threads * MB_PER_THREAD));
  await con.run(`SET memory_limit = '${capMb}MB'`);
  try {
    return await work();
  } finally {
    await con.run(`SET memory_limit = '${engineMemorySettings().memory_limit}'`).catch(() => undefined);
  }
}
