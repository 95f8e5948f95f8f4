import { setTimeout as sleep } from "node:timers/promises";
import { type DuckDBConnection, DuckDBInstance } from "@duckdb/node-api";
import { queryNumber, queryRows, streamJsonRows, withoutInsertionOrder } from "../engine/duckdb-query.js";
import { confineEngine, ENGINE_OPEN_SETTINGS, type EngineBoundary } from "../engine/engine-boundary.js";
import { stageQuery } from "../engine/stage-query.js";
import { firstLine, SluiceError } from "../errors.js";
import { duckdbDialect } from "../plan/duckdb-dialect.js";
import { quoteIdent, quoteLiteral } from "../plan/sql-text.js";
import { scratchRoot } from "../storage/scratch-dir.js";
import { catalogDdl } from "./catalog-schema.js";
import {
  ledgerInsertSql,
  rowToLedger,
  runInsertSql,
  runReportUpdateSql,
  watermarkSelectSql,
} from "./catalog-sql.js";
import { batchTable, prepareBatch } from "./prepare-batch.js";
import { publishInSession } from "./publish-session.js";
import { splitTableName } from "./split-table-name.js";
import { historySql, rollbackTable, toLoadRecords } from "./table-history.js";
import type { PublishBatch, PublishResult, Warehouse } from "./warehouse.js";
import { type SqlSession, tableColumns } from "./write-batch.js";

/** How to open the embedded warehouse. */
export interface DuckDbWarehouseOptions {
  readonly file: string;
  readonly readOnly?: boolean;
  /** How long to wait for another process holding the file (ms). */
  readonly waitMs?: number;
  /** Called once when waiting starts, with a human sentence. */
  readonly onWait?: (message: string) => void;
  /** What SQL in the engine may reach (default: Sluice's scratch folder only). */
  readonly boundary?: EngineBoundary;
}

/**
 * Opens the embedded DuckDB warehouse file. DuckDB allows one writing process per file: when another
 * Sluice process holds it, this waits (telling `onWait` after a moment) up to `waitMs`, then fails with
 * WAREHOUSE_LOCKED — it never opens the file twice.
 *
 * @example
 * const warehouse = await openDuckDbWarehouse({ file: "warehouse.duckdb", onWait: console.error });
 */
export async function openDuckDbWarehouse(options: DuckDbWarehouseOptions): Promise<Warehouse> {
  const instance = await openWithWait(options);
  const con = await instance.connect();
  try {
    await confineEngine(con, options.boundary ?? { directories: [scratchRoot()] });
    if (!options.readOnly) {
      for (const ddl of catalogDdl(duckdbDialect)) await con.run(ddl);
    }
  } catch (error) {
    con.closeSync();
    instance.closeSync();
    throw error;
  }
  return duckdbWarehouse(instance, con, options.file);
}

async function openWithWait(options: DuckDbWarehouseOptions): Promise<DuckDBInstance> {
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
  // Default 1GB: peak memory stays bounded (~1.3 GB RSS) whatever the file size; bigger batches spill.
  const limit = process.env.SLUICE_MEMORY_LIMIT?.trim() || DEFAULT_MEMORY_LIMIT;
  if (!/^\d+(\.\d+)?\s*(B|KB|MB|GB|TB|KiB|MiB|GiB|TiB)$/i.test(limit)) {
    throw new SluiceError("USAGE", `SLUICE_MEMORY_LIMIT=${limit}: expected a size like 1GB or 512MB`);
  }
  return { memory_limit: limit };
}

function duckdbWarehouse(instance: DuckDBInstance, con: DuckDBConnection, _file: string): Warehouse {
  const session: SqlSession = {
    dialect: duckdbDialect,
    async exec(sql) {
      const result = await con.run(sql);
      return Number(result.rowsChanged);
    },
    rows: (sql) => queryRows(con, sql),
  };
  const writeQuarantine = async (quarantineSql: string) => {
    await con.run(
      `INSERT INTO sluice.quarantine (run_id, pipeline, file, line, rules, reasons, "values", raw) ${quarantineSql}`,
    );
  };

  const inTransaction = async <T>(work: () => Promise<T>): Promise<T> => {
    await con.run("BEGIN TRANSACTION");
    try {
      const result = await work();
      await con.run("COMMIT");
      return result;
    } catch (error) {
      await con.run("ROLLBACK").catch(() => undefined);
      throw error;
    }
  };

  return {
    kind: "duckdb",
    dialect: duckdbDialect,
    capabilities: {
      stagesInPlace: true,
      concurrentWriters: false,
      engineFreeDuringWrite: false,
      textHoldsNul: true,
      maxIdentifierBytes: duckdbDialect.maxIdentifierBytes,
    },
    engine: con,
    async loadsOf(pipeline, sha256) {
      const rows = await queryRows(
        con,
        `SELECT * FROM sluice.files WHERE pipeline = ${quoteLiteral(pipeline)} AND sha256 = ${quoteLiteral(sha256)} AND status = 'loaded' ORDER BY received_at`,
      );
      return rows.map(rowToLedger);
    },
    async nextSequence(pipeline) {
      return (
        (await queryNumber(
          con,
          `SELECT coalesce(max(seq), 0) FROM sluice.runs WHERE pipeline = ${quoteLiteral(pipeline)}`,
        )) + 1
      );
    },
    async publish(batch: PublishBatch): Promise<PublishResult> {
      const prepared =
        batch.target.table && batch.rowsSql
          ? await prepareBatch(con, batch.rowsSql, batch.target, { inPlace: batch.rowsRepeatable === true })
          : undefined;
      try {
        // Rows of a table have no order: DuckDB writes them as they come, on both threads.
        return await withoutInsertionOrder(con, () =>
          inTransaction(() =>
            publishInSession(session, con, batch, prepared, {
              stageBatch: async () => quoteIdent(batchTable),
              engineFreeDuringWrite: false,
              writeQuarantine,
            }),
          ),
        );
      } finally {
        await con.run(`DROP TABLE IF EXISTS ${quoteIdent(batchTable)}`).catch(() => undefined);
        await con.run(`DROP VIEW IF EXISTS ${quoteIdent(batchTable)}`).catch(() => undefined);
      }
    },
    async updateRunReport(runId, report) {
      await con.run(runReportUpdateSql(runId, report, duckdbDialect));
    },
    async recordRun(run, ledger, quarantineSql) {
      await inTransaction(async () => {
        await session.exec(runInsertSql(run, duckdbDialect));
        const ledgerSql = ledgerInsertSql(ledger);
        if (ledgerSql) await session.exec(ledgerSql);
        if (quarantineSql) await writeQuarantine(quarantineSql);
      });
    },
    query: (sql) => queryRows(con, sql),
    streamQuery: (sql) => streamJsonRows(con, sql),
    stageSource: (request) => stageQuery(con, request),
    async columnsOf(table) {
      const { schema, name } = splitTableName(table, duckdbDialect);
      return (await tableColumns(session, schema, name))?.map((c) => c.name);
    },
    async watermark(pipeline) {
      const rows = await queryRows(con, watermarkSelectSql(pipeline)).catch(() => []);
      return rows[0] ? String(rows[0].value) : null;
    },
    async history(table) {
      return toLoadRecords(await queryRows(con, historySql(table)));
    },
    async rollback(table, toRunId, runId) {
      return inTransaction(() => rollbackTable(session, table, toRunId, runId));
    },
    async reader() {
      const read = await instance.connect();
      return {
        kind: "duckdb" as const,
        query: (sql: string) => queryRows(read, sql),
        history: async (table: string) => toLoadRecords(await queryRows(read, historySql(table))),
        async close() {
          read.closeSync();
        },
      };
    },
    async close() {
      con.closeSync();
      instance.closeSync();
    },
  };
}
