import type { DuckDBConnection } from "@duckdb/node-api";
import { queryNumber } from "../engine/duckdb-query.js";
import { DEFAULT_MEMORY_LIMIT, engineMemorySettings } from "./duckdb-driver.js";

/** Engine memory per thread while a write streams its rows from files (two 32 MiB CSV buffers and more). */
const MB_PER_THREAD = 96;
const FLOOR_MB = 192;
/** The run's own limit (DEFAULT_MEMORY_LIMIT, e.g. 1GB) in MB: the cap never raises it. */
const DEFAULT_MB = Number.parseFloat(DEFAULT_MEMORY_LIMIT) * (/GB$/i.test(DEFAULT_MEMORY_LIMIT) ? 1024 : 1);

/** How the write went: whether it ran again under the run's own limit after running out under the cap. */
export interface StreamedWrite<T> {
  readonly result: T;
  readonly retried: boolean;
}

/**
 * Runs a write whose rows stream from files (a database extract read in place) under a lower engine
 * memory limit, then restores the run's. Such a write holds little that must stay in memory: the CSV
 * reader's buffers and each thread's row group being built. What grows with the row count is the
 * engine's cache of the blocks it has already written, kept up to the memory limit (~650 MB at 10M rows
 * under 1 GB; ~390 MB capped). Rows of several megabytes are the exception: a row group of them must stay
 * pinned while it is built, which the cap may not hold. When the engine runs out of memory under the
 * cap, `work` runs once more under the run's limit. The profile of what such a write committed runs
 * under it too (its scan would otherwise fill the cache the same way). `work` must be read-only, or one
 * whole transaction that rolled
 * back when it threw (nothing of the first try stays) and must not act outside the engine (a lake
 * commit, a claim of stream positions), so running it again writes every row exactly once. Not when
 * SLUICE_MEMORY_LIMIT is set: a limit someone chose is kept as it is.
 *
 * @example
 * await withStreamedWriteMemory(con, () => inTransaction(() => con.run("INSERT INTO t SELECT * FROM extract_view")));
 */
export async function withStreamedWriteMemory<T>(
  con: DuckDBConnection,
  work: () => Promise<T>,
): Promise<StreamedWrite<T>> {
  if (process.env.SLUICE_MEMORY_LIMIT?.trim()) return { result: await work(), retried: false };
  const threads = await queryNumber(con, "SELECT current_setting('threads')::BIGINT");
  const capMb = Math.min(DEFAULT_MB, Math.max(FLOOR_MB, threads * MB_PER_THREAD));
  const restore = () => con.run(`SET memory_limit = '${engineMemorySettings().memory_limit}'`);
  await con.run(`SET memory_limit = '${capMb}MB'`);
  try {
    return { result: await work(), retried: false };
  } catch (error) {
    if (!isOutOfMemory(error)) throw error;
    await restore();
    return { result: await work(), retried: true };
  } finally {
    await restore().catch(() => undefined);
  }
}

/**
 * DuckDB out of memory: "Out of Memory Error: …" during a statement, or a commit that could not pin the
 * blocks it flushes ("TransactionContext Error: Failed to commit: failed to pin block of size …"). A
 * failed commit has written nothing: the transaction is rolled back, also in the file (tested).
 */
function isOutOfMemory(error: unknown): boolean {
  return (
    error instanceof Error &&
    /Out of Memory Error|failed to pin block|could not allocate block|failed to allocate/i.test(error.message)
  );
}
