import { rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type DuckDBConnection, DuckDBInstance } from "@duckdb/node-api";
import pg from "pg";
import type { JsonRow } from "../engine/duckdb-query.js";
import { queryRows } from "../engine/duckdb-query.js";
import { confineEngine, ENGINE_OPEN_SETTINGS, type EngineBoundary } from "../engine/engine-boundary.js";
import { SluiceError } from "../errors.js";
import { postgresDialect } from "../plan/postgres-dialect.js";
import { quoteIdent, quoteLiteral } from "../plan/sql-text.js";
import { type CircuitBreaker, createCircuitBreaker } from "../resilience/circuit-breaker.js";
import { withRetry } from "../resilience/retry.js";
import { scratchDir, scratchRoot } from "../storage/scratch-dir.js";
import { workDirName } from "../storage/work-dir.js";
import { catalogDdl } from "./catalog-schema.js";
import {
  ledgerInsertSql,
  rowToLedger,
  runInsertSql,
  runReportUpdateSql,
  watermarkSelectSql,
} from "./catalog-sql.js";
import { engineMemorySettings } from "./duckdb-warehouse.js";
import { idleClient, postgresBeside, raiseWorkMemSql } from "./postgres-beside.js";
import { copyEngineRows, copyEngineRowsAhead } from "./postgres-copy.js";
import { isTransientPgError, pgError } from "./postgres-errors.js";
import { readOnlyRows } from "./postgres-read-only-query.js";
import { stagePostgresSource } from "./postgres-stage-source.js";
import { inPostgresTransaction } from "./postgres-transaction.js";
import { parsePostgresUrl } from "./postgres-url.js";
import { batchTable, prepareBatch } from "./prepare-batch.js";
import { publishInSession } from "./publish-session.js";
import { splitTableName } from "./split-table-name.js";
import { historySql, rollbackTable, toLoadRecords } from "./table-history.js";
import { undoTableName } from "./undo-table-name.js";
import type { PublishBatch, PublishResult, Warehouse } from "./warehouse.js";
import { type SqlSession, tableColumns } from "./write-batch.js";

/** How to open a PostgreSQL warehouse. */
export interface PostgresWarehouseOptions {
  readonly url: string;
  readonly readOnly?: boolean;
  /** Retries of a transient failure (default 6) and their backoff base (default 250 ms). */
  readonly retries?: number;
  readonly retryBaseMs?: number;
  /** Called with a human sentence before each retry. */
  readonly onRetry?: (message: string) => void;
  /** What SQL in the staging engine may reach (default: Sluice's scratch folder only). */
  readonly boundary?: EngineBoundary;
}

const breakers = new Map<string, CircuitBreaker>();

/** Metadata columns that usually hold one value per batch. */
const metadataColumns = ["_sluice_run_id", "_sluice_source_file", "_sluice_loaded_at"];

/** Columns of the engine batch that hold the same non-null value in every row, with that value as text. */
async function constantColumns(
  engine: DuckDBConnection,
  names: readonly string[],
): Promise<Map<string, string>> {
  if (names.length === 0) return new Map();
  // min/max on the column's own type, cast once afterwards (casting every row costs more than the scan).
  const parts = names.map(
    (n, i) =>
      `CAST(min(${quoteIdent(n)}) AS VARCHAR) AS lo${i}, CAST(max(${quoteIdent(n)}) AS VARCHAR) AS hi${i}, count(${quoteIdent(n)}) AS n${i}`,
  );
  const row = (
    await queryRows(engine, `SELECT count(*) AS n, ${parts.join(", ")} FROM ${quoteIdent(batchTable)}`)
  )[0];
  const fixed = new Map<string, string>();
  if (!row || Number(row.n) === 0) return fixed;
  names.forEach((n, i) => {
    if (Number(row[`n${i}`]) === Number(row.n) && row[`lo${i}`] === row[`hi${i}`])
      fixed.set(n, String(row[`lo${i}`]));
  });
  return fixed;
}

/** 64-bit integers and narrow numerics as JSON numbers when exact; dates and times as PostgreSQL prints them. */
const types = {
  getTypeParser(oid: number, format?: "text" | "binary") {
    if (oid === 20 || oid === 1700) {
      return (value: string) => {
        const n = Number(value);
        const digits = value.replace(/^-/, "").replace(".", "").replace(/^0+/, "").length;
        return Number.isFinite(n) && (oid === 20 ? Number.isSafeInteger(n) : digits <= 15) ? n : value;
      };
    }
    if ([1082, 1083, 1114, 1184, 1266].includes(oid)) return (value: string) => value;
    return pg.types.getTypeParser(oid, format);
  },
} as pg.CustomTypesConfig;

/**
 * Opens a PostgreSQL warehouse: the catalog lives in schema `sluice`; staging and shaping happen in an
 * in-memory DuckDB (`engine`); publish moves the batch with `COPY ... FROM STDIN` straight into the
 * target (append, replace) or into a stage the mode's statements join (merge and the others), with
 * target rows, ledger and run record in one transaction. Transient
 * failures are retried with exponential backoff and jitter; a circuit breaker (5 consecutive operations
 * failed after their retries → open for 60 s) makes a down server fail fast. Passwords never appear in
 * messages.
 *
 * @example
 * const warehouse = await openPostgresWarehouse({ url: "postgres://sluice:${PGPASSWORD}@db:5432/warehouse" });
 */
export async function openPostgresWarehouse(options: PostgresWarehouseOptions): Promise<Warehouse> {
  const target = parsePostgresUrl(options.url);
  const { label, secret } = target;
  const breaker =
    breakers.get(label) ??
    createCircuitBreaker({
      name: `PostgreSQL ${label}`,
      failureThreshold: 5,
      openMs: 60_000,
      isFailure: isTransientPgError,
    });
  breakers.set(label, breaker);
  const pool = new pg.Pool({ ...target.config, types });
  // Whether a connection ever succeeded: retry notices are for a server that went away, not a wrong URL.
  let reached = false;
  // A server restart (57P01) or a dropped connection ends every connection: an idle pooled one reports on
  // the pool, one checked out between two queries on the client itself, where an unheard 'error' event
  // would kill the process. Heard, it is harmless: the client's next query fails as transient (retried)
  // and the client is released as broken; the next checkout reconnects.
  pool.on("error", () => undefined);
  pool.on("connect", (client) => client.on("error", () => undefined));
  // The breaker counts operations that failed after their retries, not attempts: a restart (seconds of
  // refused connections) is ridden out by the retries of the operation it interrupts, while a server
  // that stays down opens the circuit after a few operations, and later ones fail fast.
  const guarded = async <T>(action: string, fn: () => Promise<T>): Promise<T> =>
    breaker.run(() =>
      withRetry(
        async () => {
          try {
            return await fn();
          } catch (error) {
            throw pgError(error, label, secret, action);
          }
        },
        {
          max: options.retries ?? 6,
          baseMs: options.retryBaseMs ?? 250,
          maxDelayMs: 8_000,
          // Six retries wait 8 s at least (16 s at most): longer than a restart takes.
          jitter: "equal",
          isTransient: (e) => e instanceof SluiceError && e.transient && e.code !== "CIRCUIT_OPEN",
          // Before the server was ever reached, a refused connection is most likely a wrong URL: the
          // retries stay quiet and the final error says what failed, once.
          onRetry: ({ attempt, error, delayMs }) => {
            if (reached) options.onRetry?.(`${(error as Error).message}; retry ${attempt} in ${delayMs} ms`);
          },
        },
      ),
    );
  const withClient = async <T>(fn: (client: pg.PoolClient) => Promise<T>): Promise<T> => {
    const client = await pool.connect();
    reached = true;
    let broken: Error | undefined;
    try {
      return await fn(client);
    } catch (error) {
      if (isTransientPgError(error)) broken = error as Error;
      throw error;
    } finally {
      client.release(broken);
    }
  };
  const sessionOf = (client: pg.PoolClient): SqlSession => ({
    dialect: postgresDialect,
    async exec(sql) {
      return (await client.query(sql)).rowCount ?? 0;
    },
    async rows(sql) {
      return (await client.query(sql)).rows as JsonRow[];
    },
  });
  const simpleQuery = (sql: string) =>
    guarded("query", () => pool.query(sql).then((r) => r.rows as JsonRow[]));

  try {
    if (!options.readOnly) {
      await guarded("catalog setup", () =>
        withClient((client) =>
          inPostgresTransaction(client, async () => {
            await client.query("SELECT pg_advisory_xact_lock(hashtext('sluice:catalog'))");
            for (const ddl of catalogDdl(postgresDialect)) await client.query(ddl);
          }),
        ),
      );
    } else {
      await guarded("connect", () => pool.query("SELECT 1"));
    }
  } catch (error) {
    await pool.end().catch(() => undefined);
    throw error;
  }

  // The staging engine: in memory, bounded like the embedded warehouse, spilling to the system temp folder.
  const instance = await DuckDBInstance.create(":memory:", {
    ...ENGINE_OPEN_SETTINGS,
    ...engineMemorySettings(),
    temp_directory: join(tmpdir(), workDirName("engine")),
  });
  const engine = await instance.connect();
  await confineEngine(engine, options.boundary ?? { directories: [scratchRoot()] }).catch(
    async (error: unknown) => {
      engine.closeSync();
      instance.closeSync();
      await pool.end().catch(() => undefined);
      throw error;
    },
  );
  const workDir = scratchDir("pg-");

  const committed = async (runId: string): Promise<PublishResult | undefined> => {
    const rows = await simpleQuery(
      `SELECT r.run_id, l.inserted, l.updated, l.deleted, l.reconciliation FROM sluice.runs r LEFT JOIN sluice.loads l ON l.run_id = r.run_id WHERE r.run_id = ${quoteLiteral(runId)}`,
    );
    const row = rows[0];
    if (!row) return undefined;
    return {
      inserted: Number(row.inserted ?? 0),
      updated: Number(row.updated ?? 0),
      deleted: Number(row.deleted ?? 0),
      reconciliation: (row.reconciliation as PublishResult["reconciliation"]) ?? null,
      skippedDuplicates: [],
    };
  };

  /** Deletes before-images saved under a run id (an earlier attempt of the same publish). */
  const discardBeforeImages = async (table: string, runId: string): Promise<void> => {
    const undo = undoTableName(table, postgresDialect);
    const exists = await simpleQuery(`SELECT to_regclass(${quoteLiteral(undo)}) IS NOT NULL AS ok`);
    if (exists[0]?.ok)
      await simpleQuery(`DELETE FROM ${undo} WHERE _sluice_undo_run = ${quoteLiteral(runId)}`);
  };

  const writeQuarantine = (client: pg.PoolClient) => async (quarantineSql: string) => {
    await client.query(
      `CREATE TEMP TABLE sluice_q (run_id text, pipeline text, file text, line bigint, rules jsonb, reasons jsonb, "values" jsonb, raw text) ON COMMIT DROP`,
    );
    const columns = ["run_id", "pipeline", "file", "line", "rules", "reasons", "values", "raw"].map(
      (name) => ({
        name,
        type: "",
        engineType:
          name === "rules" || name === "reasons" ? "VARCHAR[]" : name === "line" ? "BIGINT" : "VARCHAR",
      }),
    );
    await copyEngineRows(
      engine,
      client,
      // PostgreSQL's text and jsonb cannot hold a NUL byte: it is kept visible as U+2400 (␀).
      `SELECT run_id, pipeline, file, line, list_transform(rules, x -> replace(x, chr(0), '\u2400')) AS rules,
         list_transform(reasons, x -> replace(x, chr(0), '\u2400')) AS reasons,
         replace(CAST("values" AS VARCHAR), '\\u0000', '\\u2400') AS "values", replace(raw, chr(0), '\u2400') AS raw
       FROM (${quarantineSql})`,
      columns,
      "sluice_q",
      join(workDir, "quarantine.csv"),
    );
    await client.query(
      `INSERT INTO sluice.quarantine (run_id, pipeline, file, line, rules, reasons, "values", raw) SELECT run_id, pipeline, file, line, ARRAY(SELECT jsonb_array_elements_text(rules)), ARRAY(SELECT jsonb_array_elements_text(reasons)), "values", raw FROM sluice_q`,
    );
  };

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
    async loadsOf(pipeline, sha256) {
      const rows = await simpleQuery(
        `SELECT * FROM sluice.files WHERE pipeline = ${quoteLiteral(pipeline)} AND sha256 = ${quoteLiteral(sha256)} AND status = 'loaded' ORDER BY received_at`,
      );
      return rows.map(rowToLedger);
    },
    async nextSequence(pipeline) {
      const rows = await simpleQuery(
        `SELECT coalesce(max(seq), 0) AS n FROM sluice.runs WHERE pipeline = ${quoteLiteral(pipeline)}`,
      );
      return Number(rows[0]?.n ?? 0) + 1;
    },
    async publish(batch: PublishBatch): Promise<PublishResult> {
      const table = batch.target.table;
      const prepared =
        table && batch.rowsSql
          ? await prepareBatch(engine, batch.rowsSql, batch.target, {
              inPlace: batch.rowsRepeatable === true,
            })
          : undefined;
      let attempt = 0;
      try {
        return await guarded(`publish of run ${batch.run.runId}`, async () => {
          if (attempt++ > 0) {
            // The last attempt may have committed before its connection broke: never publish twice.
            const done = await committed(batch.run.runId);
            if (done) return done;
            // Nor keep before-images it committed beside a publish that did not (they would double).
            if (table) await discardBeforeImages(table, batch.run.runId);
          }
          const beside = postgresBeside(pool);
          return withClient((client) =>
            inPostgresTransaction(client, async () => {
              await client.query(
                `SELECT pg_advisory_xact_lock(hashtext(${quoteLiteral(`sluice:pipeline:${batch.run.pipeline}`)}))`,
              );
              if (table) {
                await client.query(
                  `SELECT pg_advisory_xact_lock(hashtext(${quoteLiteral(`sluice:table:${table}`)}))`,
                );
              }
              await client.query(raiseWorkMemSql);
              return publishInSession(sessionOf(client), engine, batch, prepared, {
                stageBatch: async (columns, { analyze, shared }) => {
                  const engineTypes = new Map(prepared!.columns.map((c) => [c.name, c.type]));
                  // Columns holding one value for the whole batch (run id, load time, usually the
                  // source file) become column defaults instead of travelling through COPY.
                  const fixed = await constantColumns(
                    engine,
                    columns.map((c) => c.name).filter((n) => metadataColumns.includes(n)),
                  );
                  const ddl = columns
                    .map(
                      (c) =>
                        `${quoteIdent(c.name)} ${c.type}${fixed.has(c.name) ? ` DEFAULT ${quoteLiteral(fixed.get(c.name)!)}` : ""}`,
                    )
                    .join(", ");
                  let stage = "sluice_stage";
                  let copyClient = client;
                  // A committed stage can be filled on two connections at once (PostgreSQL parses COPY
                  // on one core per connection): a third one joins when the pool has it free.
                  let extra: pg.PoolClient | undefined;
                  if (shared) {
                    ({ table: stage, client: copyClient } = await beside.createStage(ddl));
                    extra = await idleClient(pool);
                  } else {
                    await client.query(`CREATE TEMP TABLE sluice_stage (${ddl}) ON COMMIT DROP`);
                  }
                  let extraError: Error | undefined;
                  try {
                    await copyEngineRows(
                      engine,
                      copyClient,
                      `SELECT * FROM ${quoteIdent(batchTable)}`,
                      columns
                        .filter((c) => !fixed.has(c.name))
                        .map((c) => ({ ...c, engineType: engineTypes.get(c.name) ?? "VARCHAR" })),
                      stage,
                      join(workDir, "batch.csv"),
                      extra ? [extra] : [],
                    );
                  } catch (error) {
                    extraError = error as Error;
                    throw error;
                  } finally {
                    // After a failed COPY the extra connection is closed rather than reused.
                    extra?.release(extraError);
                  }
                  if (analyze) await copyClient.query(`ANALYZE ${stage}`);
                  return stage;
                },
                copyRows: async (targetTable, columns, { created, exported }) => {
                  const engineTypes = new Map(prepared!.columns.map((c) => [c.name, c.type]));
                  // A table this transaction created is seen by no other session: its columns holding one
                  // value for the whole batch take it as a default while the rows are copied (they do
                  // not travel through COPY). An existing table is not altered (that would lock out its
                  // readers until the commit): every column is copied.
                  const fixed = created
                    ? await constantColumns(
                        engine,
                        columns.map((c) => c.name).filter((n) => metadataColumns.includes(n)),
                      )
                    : new Map<string, string>();
                  const alter = (name: string, change: string) =>
                    client.query(`ALTER TABLE ${targetTable} ALTER COLUMN ${quoteIdent(name)} ${change}`);
                  for (const [name, value] of fixed) await alter(name, `SET DEFAULT ${quoteLiteral(value)}`);
                  // The export runs ahead of the server's parsing into a file, so the engine is free for
                  // the work beside the write (the profile) while the server still copies.
                  const copied = await copyEngineRowsAhead(
                    engine,
                    client,
                    `SELECT * FROM ${quoteIdent(batchTable)}`,
                    columns
                      .filter((c) => !fixed.has(c.name))
                      .map((c) => ({ ...c, engineType: engineTypes.get(c.name) ?? "VARCHAR" })),
                    targetTable,
                    join(workDir, "batch.csv"),
                    exported,
                  );
                  for (const name of fixed.keys()) await alter(name, "DROP DEFAULT");
                  return copied;
                },
                beside,
                engineFreeDuringWrite: true,
                writeQuarantine: writeQuarantine(client),
              });
            }),
          ).finally(() => beside.close());
        });
      } finally {
        await engine.run(`DROP TABLE IF EXISTS ${quoteIdent(batchTable)}`).catch(() => undefined);
        await engine.run(`DROP VIEW IF EXISTS ${quoteIdent(batchTable)}`).catch(() => undefined);
        rmSync(join(workDir, "batch.csv"), { force: true });
      }
    },
    async updateRunReport(runId, report) {
      await guarded(`report of run ${runId}`, () =>
        withClient((client) => client.query(runReportUpdateSql(runId, report, postgresDialect))),
      );
    },
    async recordRun(run, ledger, quarantineSql) {
      let attempt = 0;
      await guarded(`record of run ${run.runId}`, async () => {
        if (attempt++ > 0 && (await committed(run.runId))) return;
        await withClient((client) =>
          inPostgresTransaction(client, async () => {
            await client.query(runInsertSql(run, postgresDialect));
            const ledgerSql = ledgerInsertSql(ledger);
            if (ledgerSql) await client.query(ledgerSql);
            if (quarantineSql) await writeQuarantine(client)(quarantineSql);
          }),
        );
      });
    },
    query: simpleQuery,
    async *streamQuery(sql) {
      // Connecting is retried and guarded by the breaker; a stream that fails midway is not replayed.
      const client = await guarded("query", () => pool.connect());
      reached = true;
      let broken: Error | undefined;
      try {
        yield* readOnlyRows(client, sql, `PostgreSQL ${label}`, types);
      } catch (error) {
        if (isTransientPgError(error)) broken = error as Error;
        throw error instanceof SluiceError ? error : pgError(error, label, secret, "query");
      } finally {
        client.release(broken);
      }
    },
    async stageSource(request) {
      return guarded("source query", () =>
        withClient((client) =>
          stagePostgresSource(
            {
              client,
              engine,
              file: join(workDir, `${request.tablePrefix}.csv`),
              server: `PostgreSQL ${label}`,
            },
            request,
          ),
        ),
      );
    },
    async columnsOf(table) {
      const { schema, name } = splitTableName(table, postgresDialect);
      const columns = await tableColumns({ dialect: postgresDialect, rows: simpleQuery }, schema, name);
      return columns?.map((c) => c.name);
    },
    async watermark(pipeline) {
      const rows = await simpleQuery(watermarkSelectSql(pipeline));
      return rows[0] ? String(rows[0].value) : null;
    },
    async history(table) {
      return toLoadRecords(await simpleQuery(historySql(table)));
    },
    async rollback(table, toRunId, runId) {
      return guarded(`rollback of ${table}`, () =>
        withClient((client) =>
          inPostgresTransaction(client, async () => {
            await client.query(
              `SELECT pg_advisory_xact_lock(hashtext(${quoteLiteral(`sluice:table:${table}`)}))`,
            );
            return rollbackTable(sessionOf(client), table, toRunId, runId);
          }),
        ),
      );
    },
    poolStats: () => ({ total: pool.totalCount, idle: pool.idleCount, waiting: pool.waitingCount }),
    async close() {
      engine.closeSync();
      instance.closeSync();
      rmSync(workDir, { recursive: true, force: true });
      await pool.end().catch(() => undefined);
    },
  };
}
