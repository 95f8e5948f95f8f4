import { rmSync } from "node:fs";
import { join } from "node:path";
import type { DuckDBConnection } from "@duckdb/node-api";
import type pg from "pg";
import type { JsonRow } from "../engine/duckdb-query.js";
import { queryRows } from "../engine/duckdb-query.js";
import { SluiceError } from "../errors.js";
import { postgresDialect } from "../plan/postgres-dialect.js";
import type { TypedColumn } from "../plan/sql-dialect.js";
import { quoteIdent, quoteLiteral } from "../plan/sql-text.js";
import { ledgerInsertSql, runInsertSql } from "./catalog-sql.js";
import { claimPositions } from "./claim-positions.js";
import { idleClient, postgresBeside, raiseWorkMemSql } from "./postgres-beside.js";
import type { PostgresCatalog } from "./postgres-catalog.js";
import { copyEngineRows, copyEngineRowsAhead } from "./postgres-copy.js";
import type { PostgresDriver } from "./postgres-driver.js";
import { copyCsvAsIs, rawCopyFits } from "./postgres-raw-copy.js";
import { inPostgresTransaction } from "./postgres-transaction.js";
import { batchTable, type PreparedBatch, prepareBatch } from "./prepare-batch.js";
import type { PublishHooks } from "./publish-hooks.js";
import { type PublishLockTimes, recordLockTimes } from "./publish-lock-timing.js";
import { publishInSession } from "./publish-session.js";
import { quarantineCountsSql } from "./quarantine-counts.js";
import { runTotalsSql } from "./run-totals.js";
import { recordStreamFloor } from "./stream-floor.js";
import { undoTableName } from "./undo-table-name.js";
import type {
  LedgerEntry,
  PositionClaim,
  PublishBatch,
  PublishResult,
  RawCsvCopy,
  RunRecord,
} from "./warehouse.js";
import type { SqlSession } from "./write-batch.js";

/** What publishing into a PostgreSQL warehouse works with. */
export interface PostgresPublishContext {
  readonly driver: PostgresDriver;
  /** The staging engine holding the batch. */
  readonly engine: DuckDBConnection;
  /** A scratch folder for the CSV files COPY reads. */
  readonly workDir: string;
  readonly catalog: PostgresCatalog;
}

/** Metadata columns that usually hold one value per batch. */
const metadataColumns = ["_sluice_run_id", "_sluice_source_file", "_sluice_loaded_at"];

/** A client's statements as the shared publish code runs them. */
export function postgresSession(client: pg.PoolClient): SqlSession {
  return {
    dialect: postgresDialect,
    async exec(sql) {
      return (await client.query(sql)).rowCount ?? 0;
    },
    async rows(sql) {
      return (await client.query(sql)).rows as JsonRow[];
    },
  };
}

/**
 * Publishes a batch: `COPY ... FROM STDIN` straight into the target (append, replace) or into a stage the
 * mode's statements join (merge and the others), with target rows, ledger and run record in one
 * transaction under advisory locks on the pipeline and the table. A retried attempt first checks
 * whether the last one committed after all (never publish twice).
 *
 * @example
 * const result = await publishToPostgres(context, batch);
 */
export async function publishToPostgres(
  context: PostgresPublishContext,
  batch: PublishBatch,
): Promise<PublishResult> {
  const { driver, engine, catalog } = context;
  const table = batch.target.table;
  const prepared =
    table && batch.rowsSql
      ? await prepareBatch(engine, batch.rowsSql, batch.target, {
          inPlace: batch.rowsRepeatable === true,
          // A single-pass merge: its keys are checked on the stage (see checkStagedKeys).
          keysOnStage: batch.completeAfterWrite !== undefined && batch.target.mode === "merge",
        })
      : undefined;
  let attempt = 0;
  try {
    return await driver.resilient(`publish of run ${batch.run.runId}`, async () => {
      if (attempt++ > 0) {
        // The last attempt may have committed before its connection broke: never publish twice.
        const done = await catalog.committed(batch.run.runId);
        if (done) return done;
        // Nor keep before-images it committed beside a publish that did not (they would double).
        if (table) await discardBeforeImages(driver, table, batch.run.runId);
      }
      // An append takes its locks after its rows are written (see lockLate); one that finds its contents
      // loaded meanwhile by another publish is rolled back and published again with its locks first.
      if (!locksLate(batch)) return publishOnce(context, batch, prepared, false);
      return publishOnce(context, batch, prepared, true).catch((error: unknown) => {
        if (!(error instanceof SluiceError && error.code === "PUBLISH_RACED")) throw error;
        return publishOnce(context, batch, prepared, false);
      });
    });
  } finally {
    await engine.run(`DROP TABLE IF EXISTS ${quoteIdent(batchTable)}`).catch(() => undefined);
    await engine.run(`DROP VIEW IF EXISTS ${quoteIdent(batchTable)}`).catch(() => undefined);
    rmSync(join(context.workDir, "batch.csv"), { force: true });
  }
}

/**
 * Whether a publish may write its rows before it takes the pipeline's and the table's locks. Those locks
 * make a publish's ledger look and its ledger rows one step for the pipeline (no content loaded twice)
 * and order its table's loads, before-images and definition changes. An append's rows are its own (no
 * before-images, no other run's rows touched), so only its last ledger look, its catalog rows and any
 * change to a table's definition need the locks (taken then, see lockLate). Everything else takes them
 * first: a lake commit or stream claim (they come one at a time per pipeline), `--force` replacing earlier
 * loads, an incremental watermark, child tables, and the other modes (before-images, rows of other runs).
 */
function locksLate(batch: PublishBatch): boolean {
  return (
    batch.target.table !== undefined &&
    batch.rowsSql !== undefined &&
    batch.target.mode === "append" &&
    batch.claim === undefined &&
    batch.replaces.length === 0 &&
    batch.watermark === undefined &&
    (batch.children?.length ?? 0) === 0
  );
}

/**
 * One publish transaction: the pipeline's and the table's locks first, or (`late`) once the rows are
 * written (see {@link PublishHooks.lockLate}); then the batch as publishInSession writes it.
 */
async function publishOnce(
  context: PostgresPublishContext,
  batch: PublishBatch,
  prepared: PreparedBatch | undefined,
  late: boolean,
): Promise<PublishResult> {
  const { driver, engine } = context;
  const table = batch.target.table;
  const beside = postgresBeside(driver.pool);
  const times: PublishLockTimes = { begun: performance.now() };
  let committed = false;
  return driver
    .withClient(async (client) => {
      const lock = async () => {
        if (times.granted !== undefined) return false;
        times.asked = performance.now();
        // Always the pipeline's, then the table's: one order, so that two publishes never deadlock on them.
        await client.query(pipelineLockSql(batch.run.pipeline));
        if (table) {
          await client.query(
            `SELECT pg_advisory_xact_lock(hashtext(${quoteLiteral(`sluice:table:${table}`)}))`,
          );
        }
        times.granted = performance.now();
        return true;
      };
      const result = await inPostgresTransaction(client, async () => {
        if (!late) await lock();
        await client.query(raiseWorkMemSql);
        const hooks: PublishHooks = {
          stageBatch: (written, columns, options) =>
            stageBatch(context, client, written, beside, columns, options, batch.constantColumns),
          copyRows: (written, target, columns, options) =>
            copyRows(
              context,
              client,
              written,
              target,
              columns,
              options,
              batch.constantColumns,
              batch.rawCopy,
            ),
          shareRows: (name, selectSql, columns) => shareRows(context, client, name, selectSql, columns),
          beside,
          engineFreeDuringWrite: true,
          writeQuarantine: (sql) => writeQuarantine(context, client, sql),
          lockLate: late ? lock : undefined,
        };
        return publishInSession(postgresSession(client), engine, batch, prepared, hooks);
      });
      committed = true;
      return result;
    })
    .finally(() => {
      recordLockTimes(batch.run.pipeline, times, performance.now(), committed);
      return beside.close();
    });
}

/**
 * Records a run that published no rows: its stream positions claimed (see claimPositions), run record,
 * ledger and quarantine in one transaction (a retry
 * after a commit whose acknowledgement was lost records nothing twice).
 *
 * @example
 * await recordPostgresRun(context, run, ledger, quarantineSql);
 */
export async function recordPostgresRun(
  context: PostgresPublishContext,
  run: RunRecord,
  ledger: readonly LedgerEntry[],
  quarantineSql: string | undefined,
  claim?: PositionClaim,
): Promise<void> {
  const { driver, catalog } = context;
  let attempt = 0;
  await driver.resilient(`record of run ${run.runId}`, async () => {
    if (attempt++ > 0 && (await catalog.committed(run.runId))) return;
    await driver.withClient((client) =>
      inPostgresTransaction(client, async () => {
        // Claims (and the lake commit after them) come one at a time per pipeline, as in a publish.
        if (claim) await client.query(pipelineLockSql(run.pipeline));
        await claimPositions(postgresSession(client), run.pipeline, claim);
        await client.query(runInsertSql(run, postgresDialect));
        await client.query(runTotalsSql(run));
        const ledgerSql = ledgerInsertSql(ledger);
        if (ledgerSql) await client.query(ledgerSql);
        if (quarantineSql) await writeQuarantine(context, client, quarantineSql);
      }),
    );
  });
}

/**
 * Records a stream pipeline's floor and prunes its claims at or below it (see stream-floor.ts), under
 * the pipeline's publish lock: a publish claiming positions meanwhile waits, then sees the floor. Both
 * steps are idempotent, so a retry after a lost connection is harmless.
 */
export async function recordPostgresStreamFloor(
  driver: PostgresDriver,
  pipeline: string,
  floor: string,
): Promise<number> {
  return driver.resilient(`stream floor of ${pipeline}`, () =>
    driver.withClient((client) =>
      inPostgresTransaction(client, async () => {
        await client.query(pipelineLockSql(pipeline));
        return recordStreamFloor(postgresSession(client), pipeline, floor);
      }),
    ),
  );
}

/** Takes the lock one pipeline's publishes hold until they commit. */
function pipelineLockSql(pipeline: string): string {
  return `SELECT pg_advisory_xact_lock(hashtext(${quoteLiteral(`sluice:pipeline:${pipeline}`)}))`;
}

/** Deletes before-images saved under a run id (an earlier attempt of the same publish). */
async function discardBeforeImages(driver: PostgresDriver, table: string, runId: string): Promise<void> {
  const undo = undoTableName(table, postgresDialect);
  const exists = await driver.query(`SELECT to_regclass(${quoteLiteral(undo)}) IS NOT NULL AS ok`);
  if (exists[0]?.ok)
    await driver.query(`DELETE FROM ${undo} WHERE _sluice_undo_run = ${quoteLiteral(runId)}`);
}

/**
 * Columns of the engine batch that hold the same non-null value in every row, with that value as text:
 * those the run knows (`known`: reading a single pass's batch would read its files again), else found by
 * one scan of the batch.
 */
async function constantColumns(
  engine: DuckDBConnection,
  names: readonly string[],
  known: ReadonlyMap<string, string> | undefined,
): Promise<Map<string, string>> {
  if (known) return new Map([...known].filter(([name]) => names.includes(name)));
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

/** The batch's columns that travel through COPY (not held as defaults), with their engine types. */
function copiedColumns(
  prepared: PreparedBatch,
  columns: readonly TypedColumn[],
  fixed: ReadonlyMap<string, string>,
) {
  const engineTypes = new Map(prepared.columns.map((c) => [c.name, c.type]));
  return columns
    .filter((c) => !fixed.has(c.name))
    .map((c) => ({ ...c, engineType: engineTypes.get(c.name) ?? "VARCHAR" }));
}

/** The stage a mode's statements join (see {@link PublishHooks.stageBatch}); returns its name. */
async function stageBatch(
  context: PostgresPublishContext,
  client: pg.PoolClient,
  prepared: PreparedBatch,
  beside: ReturnType<typeof postgresBeside>,
  columns: readonly TypedColumn[],
  options: { readonly analyze: boolean; readonly shared?: boolean },
  known: ReadonlyMap<string, string> | undefined,
): Promise<string> {
  const { engine } = context;
  // Columns holding one value for the whole batch (run id, load time, usually the source file) become
  // column defaults instead of travelling through COPY.
  const fixed = await constantColumns(
    engine,
    columns.map((c) => c.name).filter((n) => metadataColumns.includes(n)),
    known,
  );
  const ddl = columns
    .map(
      (c) =>
        `${quoteIdent(c.name)} ${c.type}${fixed.has(c.name) ? ` DEFAULT ${quoteLiteral(fixed.get(c.name)!)}` : ""}`,
    )
    .join(", ");
  let stage = "sluice_stage";
  let copyClient = client;
  // A committed stage can be filled on two connections at once (PostgreSQL parses COPY on one core per
  // connection): a third one joins when the pool has it free.
  let extra: pg.PoolClient | undefined;
  if (options.shared) {
    ({ table: stage, client: copyClient } = await beside.createStage(ddl));
    extra = await idleClient(context.driver.pool);
  } else {
    await client.query(`CREATE TEMP TABLE sluice_stage (${ddl}) ON COMMIT DROP`);
  }
  let extraError: Error | undefined;
  try {
    await copyEngineRows(
      engine,
      copyClient,
      `SELECT * FROM ${quoteIdent(batchTable)}`,
      copiedColumns(prepared, columns, fixed),
      stage,
      join(context.workDir, "batch.csv"),
      extra ? [extra] : [],
    );
  } catch (error) {
    extraError = error as Error;
    throw error;
  } finally {
    // After a failed COPY the extra connection is closed rather than reused.
    extra?.release(extraError);
  }
  if (options.analyze) await copyClient.query(`ANALYZE ${stage}`);
  return stage;
}

/** Copies the batch straight into the target (see {@link PublishHooks.copyRows}); returns the rows stored. */
async function copyRows(
  context: PostgresPublishContext,
  client: pg.PoolClient,
  prepared: PreparedBatch,
  targetTable: string,
  columns: readonly TypedColumn[],
  options: {
    readonly created: boolean;
    readonly exported: (rows?: number) => Promise<unknown> | undefined;
  },
  known: ReadonlyMap<string, string> | undefined,
  raw: RawCsvCopy | undefined,
): Promise<number> {
  const { engine } = context;
  // A table this transaction created is seen by no other session: its columns holding one value for the
  // whole batch take it as a default while the rows are copied (they do not travel through COPY). An
  // existing table is not altered (that would lock out its readers until the commit): every column is
  // copied.
  const fixed = options.created
    ? await constantColumns(
        engine,
        columns.map((c) => c.name).filter((n) => metadataColumns.includes(n)),
        known,
      )
    : new Map<string, string>();
  const alter = (name: string, change: string) =>
    client.query(`ALTER TABLE ${targetTable} ALTER COLUMN ${quoteIdent(name)} ${change}`);
  for (const [name, value] of fixed) await alter(name, `SET DEFAULT ${quoteLiteral(value)}`);
  const copiedCols = copiedColumns(prepared, columns, fixed);
  // A plain CSV file's bytes go to the server as they are, where both readers read them alike (the
  // constant columns as defaults: only on a table this transaction created).
  if (raw && options.created && rawCopyFits(raw, copiedCols)) {
    const stored = await copyCsvAsIs(client, targetTable, raw, copiedCols, () =>
      options.exported(raw.estimatedRows),
    );
    if (stored !== undefined) {
      for (const name of fixed.keys()) await alter(name, "DROP DEFAULT");
      return stored;
    }
  }
  // The export runs ahead of the server's parsing into a file, so the engine is free for the work beside
  // the write (the profile) while the server still copies.
  const copied = await copyEngineRowsAhead(
    engine,
    client,
    `SELECT * FROM ${quoteIdent(batchTable)}`,
    copiedCols,
    targetTable,
    join(context.workDir, "batch.csv"),
    options.exported,
  );
  for (const name of fixed.keys()) await alter(name, "DROP DEFAULT");
  return copied;
}

/** Engine rows copied into a temporary table dropped at the commit (see {@link PublishHooks.shareRows}). */
async function shareRows(
  context: PostgresPublishContext,
  client: pg.PoolClient,
  name: string,
  selectSql: string,
  columns: readonly (TypedColumn & { readonly engineType: string })[],
): Promise<string> {
  const ddl = columns.map((c) => `${quoteIdent(c.name)} ${c.type}`).join(", ");
  await client.query(`CREATE TEMP TABLE ${quoteIdent(name)} (${ddl}) ON COMMIT DROP`);
  await copyEngineRows(
    context.engine,
    client,
    selectSql,
    columns,
    quoteIdent(name),
    join(context.workDir, `${name}.csv`),
  );
  await client.query(`ANALYZE ${quoteIdent(name)}`);
  return quoteIdent(name);
}

/** Writes quarantine rows (SQL over the engine) into `sluice.quarantine` through a temporary table. */
async function writeQuarantine(
  context: PostgresPublishContext,
  client: pg.PoolClient,
  quarantineSql: string,
): Promise<void> {
  await client.query(
    `CREATE TEMP TABLE sluice_q (run_id text, pipeline text, file text, line bigint, rules jsonb, reasons jsonb, "values" jsonb, raw text) ON COMMIT DROP`,
  );
  const columns = ["run_id", "pipeline", "file", "line", "rules", "reasons", "values", "raw"].map((name) => ({
    name,
    type: "",
    engineType: name === "rules" || name === "reasons" ? "VARCHAR[]" : name === "line" ? "BIGINT" : "VARCHAR",
  }));
  await copyEngineRows(
    context.engine,
    client,
    // PostgreSQL's text and jsonb cannot hold a NUL byte: it is kept visible as U+2400 (␀).
    `SELECT run_id, pipeline, file, line, list_transform(rules, x -> replace(x, chr(0), '\u2400')) AS rules,
         list_transform(reasons, x -> replace(x, chr(0), '\u2400')) AS reasons,
         replace(CAST("values" AS VARCHAR), '\\u0000', '\\u2400') AS "values", replace(raw, chr(0), '\u2400') AS raw
       FROM (${quarantineSql})`,
    columns,
    "sluice_q",
    join(context.workDir, "quarantine.csv"),
  );
  await client.query(
    `INSERT INTO sluice.quarantine (run_id, pipeline, file, line, rules, reasons, "values", raw) SELECT run_id, pipeline, file, line, ARRAY(SELECT jsonb_array_elements_text(rules)), ARRAY(SELECT jsonb_array_elements_text(reasons)), "values", raw FROM sluice_q`,
  );
  await client.query(quarantineCountsSql("sluice_q", "true"));
}
