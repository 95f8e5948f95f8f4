import { rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type DuckDBConnection, DuckDBInstance } from "@duckdb/node-api";
import { confineEngine, ENGINE_OPEN_SETTINGS, type EngineBoundary } from "../engine/engine-boundary.js";
import { postgresDialect } from "../plan/postgres-dialect.js";
import { quoteLiteral } from "../plan/sql-text.js";
import { scratchDir, scratchRoot } from "../storage/scratch-dir.js";
import { workDirName } from "../storage/work-dir.js";
import { engineMemorySettings } from "./duckdb-driver.js";
import { ledgerLookups } from "./ledger-lookups.js";
import { postgresCatalog, preparePostgresCatalog } from "./postgres-catalog.js";
import { openPostgresDriver, type PostgresDriverOptions } from "./postgres-driver.js";
import {
  postgresSession,
  publishToPostgres,
  recordPostgresRun,
  recordPostgresStreamFloor,
} from "./postgres-publish.js";
import { stagePostgresSource } from "./postgres-stage-source.js";
import { inPostgresTransaction } from "./postgres-transaction.js";
import { splitTableName } from "./split-table-name.js";
import { rollbackTable } from "./table-history.js";
import type { Warehouse } from "./warehouse.js";
import { tableColumns } from "./write-batch.js";

/** How to open a PostgreSQL warehouse. */
export interface PostgresWarehouseOptions extends PostgresDriverOptions {
  readonly readOnly?: boolean;
  /** What SQL in the staging engine may reach (default: Sluice's scratch folder only). */
  readonly boundary?: EngineBoundary;
}

/** The staging engine: in memory, bounded like the embedded warehouse, spilling to the system temp folder. */
async function openStagingEngine(
  boundary: EngineBoundary | undefined,
): Promise<{ instance: DuckDBInstance; engine: DuckDBConnection }> {
  const instance = await DuckDBInstance.create(":memory:", {
    ...ENGINE_OPEN_SETTINGS,
    ...engineMemorySettings(),
    temp_directory: join(tmpdir(), workDirName("engine")),
  });
  const engine = await instance.connect();
  try {
    await confineEngine(engine, boundary ?? { directories: [scratchRoot()] });
  } catch (error) {
    engine.closeSync();
    instance.closeSync();
    throw error;
  }
  return { instance, engine };
}

/**
 * Opens a PostgreSQL warehouse, assembled from its parts: the driver (pool, retries, circuit breaker;
 * postgres-driver.ts), the dialect (plan/postgres-dialect.ts), the catalog in schema `sluice`
 * (postgres-catalog.ts), and publishing (postgres-publish.ts). Staging and shaping happen in an
 * in-memory DuckDB (`engine`); publish moves the batch with `COPY ... FROM STDIN`, with target rows,
 * ledger and run record in one transaction. Passwords never appear in messages.
 *
 * @example
 * const warehouse = await openPostgresWarehouse({ url: "postgres://sluice:${PGPASSWORD}@db:5432/warehouse" });
 */
export async function openPostgresWarehouse(options: PostgresWarehouseOptions): Promise<Warehouse> {
  const driver = openPostgresDriver(options);
  let staging: Awaited<ReturnType<typeof openStagingEngine>>;
  try {
    await preparePostgresCatalog(driver, options);
    staging = await openStagingEngine(options.boundary);
  } catch (error) {
    await driver.end();
    throw error;
  }
  const { instance, engine } = staging;
  const workDir = scratchDir("pg-");
  const catalog = postgresCatalog(driver);
  const context = { driver, engine, workDir, catalog };
  return {
    kind: "postgres",
    dialect: postgresDialect,
    capabilities: {
      stagesInPlace: false,
      concurrentWriters: true,
      engineFreeDuringWrite: true,
      textHoldsNul: false,
      maxIdentifierBytes: postgresDialect.maxIdentifierBytes,
    },
    engine,
    loadsOf: catalog.loadsOf,
    ...ledgerLookups(driver.query),
    nextSequence: catalog.nextSequence,
    publish: (batch) => publishToPostgres(context, batch),
    updateRunReport: catalog.updateRunReport,
    recordRun: (run, ledger, quarantineSql, claim) =>
      recordPostgresRun(context, run, ledger, quarantineSql, claim),
    recordStreamFloor: (pipeline, floor) => recordPostgresStreamFloor(driver, pipeline, floor),
    query: driver.query,
    streamQuery: driver.streamQuery,
    async stageSource(request) {
      return driver.resilient("source query", () =>
        driver.withClient((client) =>
          stagePostgresSource(
            {
              client,
              engine,
              file: join(workDir, `${request.tablePrefix}.csv`),
              server: `PostgreSQL ${driver.label}`,
            },
            request,
          ),
        ),
      );
    },
    async columnsOf(table) {
      const { schema, name } = splitTableName(table, postgresDialect);
      const columns = await tableColumns({ dialect: postgresDialect, rows: driver.query }, schema, name);
      return columns?.map((c) => c.name);
    },
    watermark: catalog.watermark,
    history: catalog.history,
    async rollback(table, toRunId, runId) {
      return driver.resilient(`rollback of ${table}`, () =>
        driver.withClient((client) =>
          inPostgresTransaction(client, async () => {
            await client.query(
              `SELECT pg_advisory_xact_lock(hashtext(${quoteLiteral(`sluice:table:${table}`)}))`,
            );
            return rollbackTable(postgresSession(client), table, toRunId, runId);
          }),
        ),
      );
    },
    poolStats: driver.poolStats,
    async close() {
      engine.closeSync();
      instance.closeSync();
      rmSync(workDir, { recursive: true, force: true });
      await driver.end();
    },
  };
}
