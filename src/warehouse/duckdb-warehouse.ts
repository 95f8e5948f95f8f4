import { setTimeout as sleep } from "node:timers/promises";
import { type DuckDBConnection, DuckDBInstance } from "@duckdb/node-api";
import { queryNumber, queryRows } from "../engine/duckdb-query.js";
import { firstLine, SluiceError } from "../errors.js";
import { quoteIdent, quoteLiteral, quoteTableName } from "../plan/sql-text.js";
import { duckdbCatalogDdl } from "./duckdb-catalog.js";
import type { LedgerEntry, PublishBatch, PublishResult, RunRecord, Warehouse } from "./warehouse.js";

/** How to open the embedded warehouse. */
export interface DuckDbWarehouseOptions {
  readonly file: string;
  readonly readOnly?: boolean;
  /** How long to wait for another process holding the file (ms). */
  readonly waitMs?: number;
  /** Called once when waiting starts, with a human sentence. */
  readonly onWait?: (message: string) => void;
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
  if (!options.readOnly) {
    for (const ddl of duckdbCatalogDdl) await con.run(ddl);
  }
  return duckdbWarehouse(instance, con, options.file);
}

async function openWithWait(options: DuckDbWarehouseOptions): Promise<DuckDBInstance> {
  const deadline = Date.now() + (options.waitMs ?? 120_000);
  const started = Date.now();
  let told = false;
  for (let attempt = 0; ; attempt++) {
    try {
      return await DuckDBInstance.create(options.file, options.readOnly ? { access_mode: "READ_ONLY" } : {});
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      if (options.readOnly && /does not exist|No such file/i.test(message)) {
        throw new SluiceError(
          "WAREHOUSE_ERROR",
          `${options.file}: no warehouse yet (run \`sluice run\` first)`,
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
      if (!told && Date.now() - started >= 1000) {
        told = true;
        options.onWait?.(
          `waiting for ${options.file}: in use by another Sluice process${holder ? ` (PID ${holder})` : ""}…`,
        );
      }
      await sleep(Math.min(100 * 1.5 ** attempt, 1000));
    }
  }
}

function duckdbWarehouse(instance: DuckDBInstance, con: DuckDBConnection, file: string): Warehouse {
  const ledgerValues = (entries: readonly LedgerEntry[]): string =>
    entries
      .map(
        (e) =>
          `(${[
            quoteLiteral(e.runId),
            quoteLiteral(e.pipeline),
            quoteLiteral(e.path),
            quoteLiteral(e.sha256),
            e.size,
            quoteLiteral(e.status),
            e.rowsRead,
            e.rowsLoaded,
            e.archivedTo === null ? "NULL" : quoteLiteral(e.archivedTo),
            e.error === null ? "NULL" : quoteLiteral(e.error),
            "now()",
          ].join(", ")})`,
      )
      .join(", ");

  const writeRunRecord = async (run: RunRecord, ledger: readonly LedgerEntry[], quarantineSql?: string) => {
    const rows = (run.report.rows ?? {}) as Record<string, number>;
    const seq = Number(run.report.sequence ?? 0);
    await con.run(
      `INSERT INTO sluice.runs VALUES (${[
        quoteLiteral(run.runId),
        quoteLiteral(run.pipeline),
        seq,
        quoteLiteral(run.status),
        `${quoteLiteral(run.startedAt.toISOString())}::TIMESTAMPTZ`,
        `${quoteLiteral(run.finishedAt.toISOString())}::TIMESTAMPTZ`,
        rows.read ?? 0,
        rows.loaded ?? 0,
        rows.quarantined ?? 0,
        rows.malformed ?? 0,
        rows.duplicates ?? 0,
        run.report.error ? quoteLiteral(String(run.report.error)) : "NULL",
        `${quoteLiteral(JSON.stringify(run.report))}::JSON`,
      ].join(", ")})`,
    );
    if (ledger.length > 0) await con.run(`INSERT INTO sluice.files VALUES ${ledgerValues(ledger)}`);
    if (quarantineSql) {
      await con.run(
        `INSERT INTO sluice.quarantine (run_id, pipeline, file, line, rules, reasons, "values", raw) ${quarantineSql}`,
      );
    }
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
    capabilities: { stagesInPlace: true, concurrentWriters: false },
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
      return inTransaction(async () => {
        let inserted = 0;
        let deleted = 0;
        const table = batch.target.table;
        if (table && batch.rowsSql) {
          const target = quoteTableName(table);
          const exists = await tableExists(con, table);
          if (!exists || batch.target.mode === "replace") {
            if (exists) deleted = await queryNumber(con, `SELECT count(*) FROM ${target}`);
            await ensureSchemaOf(con, table);
            await con.run(`CREATE OR REPLACE TABLE ${target} AS ${batch.rowsSql}`);
            inserted = await queryNumber(con, `SELECT count(*) FROM ${target}`);
          } else {
            // New columns first: DuckDB refuses to alter a table this transaction already deleted from.
            await addNewColumns(con, table, batch.rowsSql);
            for (const old of batch.replaces) {
              const where = `_sluice_run_id = ${quoteLiteral(old.runId)} AND _sluice_source_file = ${quoteLiteral(old.path)}`;
              deleted += await queryNumber(con, `SELECT count(*) FROM ${target} WHERE ${where}`);
              await con.run(`DELETE FROM ${target} WHERE ${where}`);
            }
            const before = await queryNumber(con, `SELECT count(*) FROM ${target}`);
            await con.run(`INSERT INTO ${target} BY NAME ${batch.rowsSql}`);
            inserted = (await queryNumber(con, `SELECT count(*) FROM ${target}`)) - before;
          }
        }
        await writeRunRecord(batch.run, batch.ledger, batch.quarantineSql);
        if (batch.checks.length > 0) {
          const values = batch.checks
            .map(
              (c) =>
                `(${quoteLiteral(batch.run.runId)}, ${quoteLiteral(batch.run.pipeline)}, ${quoteLiteral(c.name)}, ${quoteLiteral(c.severity)}, ${c.failed})`,
            )
            .join(", ");
          await con.run(`INSERT INTO sluice.checks VALUES ${values}`);
        }
        return { inserted, deleted };
      });
    },
    async recordRun(run, ledger, quarantineSql) {
      await inTransaction(() => writeRunRecord(run, ledger, quarantineSql));
    },
    query: (sql) => queryRows(con, sql),
    async close() {
      con.closeSync();
      instance.closeSync();
    },
  };
}

function rowToLedger(row: Record<string, unknown>): LedgerEntry {
  return {
    runId: String(row.run_id),
    pipeline: String(row.pipeline),
    path: String(row.path),
    sha256: String(row.sha256),
    size: Number(row.size),
    status: row.status as LedgerEntry["status"],
    rowsRead: Number(row.rows_read ?? 0),
    rowsLoaded: Number(row.rows_loaded ?? 0),
    archivedTo: (row.archived_to as string | null) ?? null,
    error: (row.error as string | null) ?? null,
  };
}

function splitName(table: string): { schema: string; name: string } {
  const parts = table.split(".");
  return parts.length > 1
    ? { schema: parts[0]!, name: parts.slice(1).join(".") }
    : { schema: "main", name: table };
}

async function tableExists(con: DuckDBConnection, table: string): Promise<boolean> {
  const { schema, name } = splitName(table);
  return (
    (await queryNumber(
      con,
      `SELECT count(*) FROM duckdb_tables() WHERE schema_name = ${quoteLiteral(schema)} AND table_name = ${quoteLiteral(name)} AND NOT temporary`,
    )) > 0
  );
}

async function ensureSchemaOf(con: DuckDBConnection, table: string): Promise<void> {
  const { schema } = splitName(table);
  if (schema !== "main") await con.run(`CREATE SCHEMA IF NOT EXISTS ${quoteIdent(schema)}`);
}

/** Schema evolution (`evolve`): columns the batch has and the table lacks are added, typed as in the batch. */
async function addNewColumns(con: DuckDBConnection, table: string, rowsSql: string): Promise<void> {
  const { schema, name } = splitName(table);
  const existing = new Set(
    (
      await queryRows(
        con,
        `SELECT column_name FROM duckdb_columns() WHERE schema_name = ${quoteLiteral(schema)} AND table_name = ${quoteLiteral(name)}`,
      )
    ).map((r) => String(r.column_name)),
  );
  const incoming = await queryRows(con, `DESCRIBE ${rowsSql}`);
  for (const column of incoming) {
    const columnName = String(column.column_name);
    if (!existing.has(columnName)) {
      await con.run(
        `ALTER TABLE ${quoteTableName(table)} ADD COLUMN ${quoteIdent(columnName)} ${String(column.column_type)}`,
      );
    }
  }
}
