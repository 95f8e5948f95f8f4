import type { DuckDBConnection, DuckDBInstance } from "@duckdb/node-api";
import { queryNumber, queryRows, streamJsonRows, withoutInsertionOrder } from "../engine/duckdb-query.js";
import { confineEngine, type EngineBoundary } from "../engine/engine-boundary.js";
import { stageQuery } from "../engine/stage-query.js";
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
import { claimPositions } from "./claim-positions.js";
import { type DuckDbFileOptions, openDuckDbFile } from "./duckdb-driver.js";
import { ledgerLookups } from "./ledger-lookups.js";
import { batchTable, prepareBatch } from "./prepare-batch.js";
import { publishInSession } from "./publish-session.js";
import { backfillQuarantineCounts, quarantineCountsSql } from "./quarantine-counts.js";
import { backfillRunTotals, runTotalsSql } from "./run-totals.js";
import { splitTableName } from "./split-table-name.js";
import { streamClaimsMigrationSql } from "./stream-claims-migration.js";
import { recordStreamFloor } from "./stream-floor.js";
import { withStreamedWriteMemory } from "./streamed-write-memory.js";
import { historySql, rollbackTable, toLoadRecords } from "./table-history.js";
import type { PublishBatch, PublishResult, Warehouse } from "./warehouse.js";
import { type SqlSession, tableColumns } from "./write-batch.js";

/** How to open the embedded warehouse. */
export interface DuckDbWarehouseOptions extends DuckDbFileOptions {
  /** What SQL in the engine may reach (default: Sluice's scratch folder only). */
  readonly boundary?: EngineBoundary;
}

/**
 * Opens the embedded DuckDB warehouse file, assembled from its parts: the file (duckdb-driver.ts: one
 * writing process per file; another one's lock is waited for up to `waitMs`, then WAREHOUSE_LOCKED), the
 * dialect (plan/duckdb-dialect.ts), the catalog (catalog-schema.ts) and the shared publish code.
 *
 * @example
 * const warehouse = await openDuckDbWarehouse({ file: "warehouse.duckdb", onWait: console.error });
 */
export async function openDuckDbWarehouse(options: DuckDbWarehouseOptions): Promise<Warehouse> {
  const instance = await openDuckDbFile(options);
  const con = await instance.connect();
  try {
    await confineEngine(con, options.boundary ?? { directories: [scratchRoot()] });
    if (!options.readOnly) {
      for (const ddl of catalogDdl(duckdbDialect)) await con.run(ddl);
      await con.run("BEGIN TRANSACTION");
      for (const sql of streamClaimsMigrationSql()) await con.run(sql);
      await con.run("COMMIT");
      await backfillQuarantineCounts((sql) => queryRows(con, sql));
      await backfillRunTotals((sql) => queryRows(con, sql));
    }
  } catch (error) {
    con.closeSync();
    instance.closeSync();
    throw error;
  }
  return duckdbWarehouse(instance, con, options.file);
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
    // Called inside a transaction (a publish, a run record): its rows are those stamped with its now().
    await con.run(quarantineCountsSql("sluice.quarantine", "quarantined_at = now()"));
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
    ...ledgerLookups((sql) => queryRows(con, sql)),
    async nextSequence(pipeline, atLeast = 1) {
      // One writer (the file lock): the catalog's highest plus one cannot be taken twice.
      const highest = await queryNumber(
        con,
        `SELECT coalesce(max(seq), 0) FROM sluice.runs WHERE pipeline = ${quoteLiteral(pipeline)}`,
      );
      return Math.max(highest + 1, atLeast);
    },
    async publish(batch: PublishBatch): Promise<PublishResult> {
      const prepared =
        batch.target.table && batch.rowsSql
          ? await prepareBatch(con, batch.rowsSql, batch.target, { inPlace: batch.rowsRepeatable === true })
          : undefined;
      try {
        // Rows of a table have no order: DuckDB writes them as they come, on both threads.
        const write = () =>
          withoutInsertionOrder(con, () =>
            inTransaction(() =>
              publishInSession(session, con, batch, prepared, {
                stageBatch: async () => quoteIdent(batchTable),
                // The engine is the warehouse: its rows are read where they are.
                shareRows: async (_name, selectSql) => `(${selectSql})`,
                engineFreeDuringWrite: false,
                writeQuarantine,
              }),
            ),
          );
        // A batch its source counted is an extract's rows streamed from its files (see sourceRows); an
        // append or replace only writes them (a merge also joins them with the table). Only a publish
        // that acts on nothing but the engine: it may run twice (see withStreamedWriteMemory).
        const streamed =
          batch.sourceRows !== undefined &&
          prepared !== undefined &&
          (batch.target.mode === "append" || batch.target.mode === "replace") &&
          !batch.claim &&
          !batch.children?.length &&
          !batch.completeAfterWrite;
        if (!streamed) return await write();
        const { result, retried } = await withStreamedWriteMemory(con, write);
        return retried ? { ...result, retriedUnderFullMemory: true } : result;
      } finally {
        await con.run(`DROP TABLE IF EXISTS ${quoteIdent(batchTable)}`).catch(() => undefined);
        await con.run(`DROP VIEW IF EXISTS ${quoteIdent(batchTable)}`).catch(() => undefined);
      }
    },
    async updateRunReport(runId, report) {
      await con.run(runReportUpdateSql(runId, report, duckdbDialect));
    },
    async recordRun(run, ledger, quarantineSql, claim) {
      await inTransaction(async () => {
        await claimPositions(session, run.pipeline, claim);
        await session.exec(runInsertSql(run, duckdbDialect));
        await session.exec(runTotalsSql(run));
        const ledgerSql = ledgerInsertSql(ledger);
        if (ledgerSql) await session.exec(ledgerSql);
        if (quarantineSql) await writeQuarantine(quarantineSql);
      });
    },
    recordStreamFloor: (pipeline, floor) =>
      inTransaction(() => recordStreamFloor(session, pipeline, floor, { oneWriter: true })),
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
        dialect: duckdbDialect,
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
