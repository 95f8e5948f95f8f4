import { setTimeout as sleep } from "node:timers/promises";
import { DuckDBInstance } from "@duckdb/node-api";
import { ENGINE_OPEN_SETTINGS } from "../engine/engine-boundary.js";
import { firstLine, SluiceError } from "../errors.js";

/** How to open a DuckDB warehouse file. */
export interface DuckDbFileOptions {
  readonly file: string;
  readonly readOnly?: boolean;
  /** How long to wait for another process holding the file (ms). */
  readonly waitMs?: number;
  /** Called once when waiting starts, with a human sentence. */
  readonly onWait?: (message: string) => void;
}

/**
 * Opens a DuckDB warehouse file. DuckDB allows one writing process per file: when another process holds
 * it, this waits (telling `onWait` after a moment) up to `waitMs`, then fails with WAREHOUSE_LOCKED — it
 * never opens the file twice.
 *
 * @example
 * const instance = await openDuckDbFile({ file: "warehouse.duckdb", onWait: console.error });
 */
export async function openDuckDbFile(options: DuckDbFileOptions): Promise<DuckDBInstance> {
  const settings = {
    ...ENGINE_OPEN_SETTINGS,
    ...engineMemorySettings(),
    storage_compatibility_version: duckdbStorageVersion(),
  };
  const deadline = Date.now() + (options.waitMs ?? 120_000);
  const started = Date.now();
  let told = false;
  for (let attempt = 0; ; attempt++) {
    try {
      return await DuckDBInstance.create(options.file, {
        ...(options.readOnly ? { access_mode: "READ_ONLY" } : {}),
        ...settings,
      });
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      if (options.readOnly && /does not exist|No such file/i.test(message)) {
        throw new SluiceError(
          "WAREHOUSE_ERROR",
          `${options.file}: no warehouse yet (run \`sluice run\` first)`,
        );
      }
      if (/Failed to set config/i.test(message) && process.env.SLUICE_DUCKDB_STORAGE_VERSION?.trim()) {
        // The memory limit is checked above; the storage version is the one setting DuckDB may not know.
        throw new SluiceError(
          "USAGE",
          `SLUICE_DUCKDB_STORAGE_VERSION=${settings.storage_compatibility_version}: not a storage version this DuckDB knows (e.g. v1.3.0, or latest)`,
          { cause: error },
        );
      }
      if (!/lock/i.test(message)) {
        throw new SluiceError(
          "WAREHOUSE_ERROR",
          `${options.file}: cannot open the warehouse: ${firstLine(message)}`,
          {
            cause: error,
          },
        );
      }
      const holder = /PID (\d+)/.exec(message)?.[1];
      if (Date.now() >= deadline) {
        throw new SluiceError(
          "WAREHOUSE_LOCKED",
          `${options.file}: locked by another Sluice process${holder ? ` (PID ${holder})` : ""}; gave up after ${Math.round((Date.now() - started) / 1000)}s (set SLUICE_LOCK_WAIT to wait longer)`,
          { transient: true, cause: error },
        );
      }
      if (!told && Date.now() - started >= 1500) {
        told = true;
        options.onWait?.(
          `waiting for ${options.file}: in use by another Sluice process${holder ? ` (PID ${holder})` : ""}…`,
        );
      }
      await sleep(Math.min(100 * 1.5 ** attempt, 1000));
    }
  }
}

/**
 * The DuckDB storage format of warehouse files Sluice creates (an existing file keeps its own). DuckDB
 * itself still writes the v0.10.2 format by default; from v1.3.0 on its string columns are compressed with
 * DICT_FSST, which writes constant and low-cardinality text (Sluice's `_sluice_run_id` and
 * `_sluice_source_file`, status codes) at about twice the speed. Files in it open in DuckDB 1.3 and later;
 * SLUICE_DUCKDB_STORAGE_VERSION (e.g. `v1.0.0`) picks another for tools that need an older DuckDB.
 */
export const DEFAULT_DUCKDB_STORAGE_VERSION = "v1.3.0";

/** The storage format for new warehouse files: SLUICE_DUCKDB_STORAGE_VERSION or the default. */
export function duckdbStorageVersion(): string {
  const version = process.env.SLUICE_DUCKDB_STORAGE_VERSION?.trim() || DEFAULT_DUCKDB_STORAGE_VERSION;
  if (!/^(v\d+\.\d+\.\d+|latest)$/.test(version)) {
    throw new SluiceError(
      "USAGE",
      `SLUICE_DUCKDB_STORAGE_VERSION=${version}: expected a DuckDB version like v1.3.0, or latest`,
    );
  }
  return version;
}

/** DuckDB memory limit when SLUICE_MEMORY_LIMIT is not set. */
export const DEFAULT_MEMORY_LIMIT = "1GB";

/**
 * DuckDB memory settings from the environment: SLUICE_MEMORY_LIMIT (e.g. `1GB`) caps DuckDB's buffer
 * memory, so big staging tables spill to disk instead of growing the process.
 */
export function engineMemorySettings(): Record<string, string> {
  // A fixed limit keeps peak memory bounded whatever the file size: bigger batches spill to disk.
  const limit = process.env.SLUICE_MEMORY_LIMIT?.trim() || DEFAULT_MEMORY_LIMIT;
  if (!/^\d+(\.\d+)?\s*(B|KB|MB|GB|TB|KiB|MiB|GiB|TiB)$/i.test(limit)) {
    throw new SluiceError("USAGE", `SLUICE_MEMORY_LIMIT=${limit}: expected a size like 1GB or 512MB`);
  }
  return { memory_limit: limit };
}
