import type { DuckDBConnection } from "@duckdb/node-api";
import { quoteLiteral } from "../plan/sql-text.js";
import {
  checksInsertSql,
  ledgerInsertSql,
  loadedHashesSql,
  loadInsertSql,
  runInsertSql,
  supersedeSql,
  watermarkInsertSql,
} from "./catalog-sql.js";
import { publishChildTables } from "./child-tables.js";
import { claimPositions } from "./claim-positions.js";
import { batchStats, dropBatchFiles, type PreparedBatch } from "./prepare-batch.js";
import { boundHooks, type PublishHooks } from "./publish-hooks.js";
import { runTotalsSql } from "./run-totals.js";
import { quotedTableName } from "./split-table-name.js";
import type { AfterWrite, PublishBatch, PublishResult, RunRecord } from "./warehouse.js";
import { type SqlSession, type WriteOutcome, writeBatch } from "./write-batch.js";

/**
 * The body of a publish transaction, the same for every warehouse: stream positions are claimed first
 * (and the lake commit that waits for them runs, see claimPositions), files another process loaded
 * meanwhile are dropped from the batch (reported skipped_duplicate), `--force` supersedes earlier
 * ledger entries, the batch is written under the target's mode with before-images and reconciliation,
 * then the load, run record (with the load's numbers), ledger, quarantine, checks and watermark.
 *
 * @example
 * await publishInSession(session, engine, batch, prepared, hooks); // inside BEGIN ... COMMIT
 */
export async function publishInSession(
  session: SqlSession,
  engine: DuckDBConnection,
  batch: PublishBatch,
  prepared: PreparedBatch | undefined,
  hooks: PublishHooks,
): Promise<PublishResult> {
  let { run, ledger, quarantineSql, checks } = batch;
  await claimPositions(session, run.pipeline, batch.claim);
  // Started at most once: by the write once the batch is on the server, or below before the run record.
  let alongside: Promise<Readonly<Record<string, unknown>>> | undefined;
  const startAlongside = batch.alongsideWrite
    ? (rows?: number) => {
        alongside ??= batch.alongsideWrite!(rows);
        return alongside;
      }
    : undefined;
  // A single-pass batch's files are hashed during its write: checked there (completeAfterWrite).
  const loaded = ledger.filter((e) => e.status === "loaded" && e.sha256 !== "");
  let skippedDuplicates: string[] = [];
  if (batch.replaces.length === 0 && loaded.length > 0) {
    const already = new Set(
      (
        await session.rows(
          loadedHashesSql(
            run.pipeline,
            loaded.map((e) => e.sha256),
          ),
        )
      ).map((r) => String(r.sha256)),
    );
    skippedDuplicates = loaded.filter((e) => already.has(e.sha256)).map((e) => e.path);
    if (skippedDuplicates.length > 0 && batch.resolveDuplicates) {
      if (prepared) await dropBatchFiles(engine, skippedDuplicates);
      ({ run, ledger } = batch.resolveDuplicates(skippedDuplicates));
    }
  }
  for (const sql of supersedeSql(batch.replaces)) await session.exec(sql);
  let result: PublishResult = {
    inserted: 0,
    updated: 0,
    deleted: 0,
    reconciliation: null,
    skippedDuplicates,
  };
  /** Catalog inserts, run together at the end (none of them is read back inside the transaction). */
  const catalogRows: string[] = [];
  const table = batch.target.table;
  if (table && prepared) {
    const single = batch.completeAfterWrite;
    // A single-pass merge reconciles its sums against its stage (see checkStagedKeys).
    const sumColumns = single && batch.target.mode !== "merge" ? [] : (batch.sumColumns ?? []);
    // A single-pass batch is read by the write itself: its numbers come from the write.
    const source = single
      ? undefined
      : await batchStats(
          engine,
          sumColumns.filter((c) => prepared.columns.some((p) => p.name === c)),
        );
    // An empty batch writes nothing, except under replace, where the table becomes the batch (a
    // header-only file empties it) as long as some file of it is still loaded.
    const replacesTable = batch.target.mode === "replace" && ledger.some((e) => e.status === "loaded");
    if (!source || source.rows > 0 || batch.replaces.length > 0 || replacesTable) {
      const outcome = await writeBatch({
        session,
        engine,
        batch: prepared,
        target: { ...batch.target, table },
        runId: run.runId,
        loadedAt: new Date(String(run.report.started_at ?? run.startedAt.toISOString())),
        replaces: batch.replaces,
        policy: batch.schemaEvolution ?? "evolve",
        sumColumns,
        source,
        ...boundHooks(hooks, prepared),
        beside: hooks.beside,
        alongside: hooks.engineFreeDuringWrite ? startAlongside : undefined,
      });
      result = { ...outcome, skippedDuplicates };
      if (batch.children) {
        await publishChildTables(session, engine, batch, batch.children, hooks, {
          runId: run.runId,
          loadedAt: new Date(String(run.report.started_at ?? run.startedAt.toISOString())),
        });
      }
      if (single) {
        ({
          run,
          ledger,
          quarantineSql,
          checks = checks,
        } = await completeWrite(session, single, outcome, table, run));
      }
      catalogRows.push(
        loadInsertSql(
          {
            run_id: run.runId,
            pipeline: run.pipeline,
            table,
            mode: batch.target.mode,
            inserted: outcome.inserted,
            updated: outcome.updated,
            deleted: outcome.deleted,
            saved: outcome.saved,
            loaded_at: run.startedAt.toISOString(),
            reconciliation: outcome.reconciliation,
          },
          session.dialect,
        ),
      );
    }
  }
  const alongsideReport = startAlongside ? await startAlongside() : {};
  const record: RunRecord = {
    ...run,
    report: {
      ...run.report,
      ...alongsideReport,
      load: table
        ? {
            table,
            mode: batch.target.mode,
            inserted: result.inserted,
            updated: result.updated,
            deleted: result.deleted,
          }
        : null,
      reconciliation: result.reconciliation,
      ...(result.schemaChanges?.length ? { schema_changes: result.schemaChanges } : {}),
    },
  };
  if (quarantineSql) await hooks.writeQuarantine(quarantineSql);
  catalogRows.push(runInsertSql(record, session.dialect), runTotalsSql(record));
  const ledgerSql = ledgerInsertSql(ledger);
  if (ledgerSql) catalogRows.push(ledgerSql);
  const checksSql = checksInsertSql(run, checks);
  if (checksSql) catalogRows.push(checksSql);
  if (batch.watermark) {
    catalogRows.push(
      watermarkInsertSql(run.pipeline, run.runId, batch.watermark.cursor, batch.watermark.value),
    );
  }
  // The catalog's rows in one round trip (a stream batch publishes several times a second).
  await session.exec(catalogRows.join(";\n"));
  return result;
}

/**
 * A single pass's completion right after its write (see {@link PublishBatch.completeAfterWrite}), with
 * the rows it accepted: those the write stored, counted per file through the publishing transaction;
 * a merge's, those it staged (rows the upsert left unchanged keep their earlier run id). Its ledger
 * question goes through the publishing transaction too.
 */
function completeWrite(
  session: SqlSession,
  single: NonNullable<PublishBatch["completeAfterWrite"]>,
  outcome: WriteOutcome,
  table: string,
  run: RunRecord,
): Promise<AfterWrite> {
  const { staged } = outcome;
  const loadedAnyOf = async (hashes: readonly string[]) =>
    hashes.length > 0 && (await session.rows(loadedHashesSql(run.pipeline, hashes))).length > 0;
  if (staged) return single(staged.rows, () => staged.byFile(), loadedAnyOf);
  const writtenByFile = async () => {
    const rows = await session.rows(
      `SELECT _sluice_source_file AS f, count(*) AS n FROM ${quotedTableName(table, session.dialect)} WHERE _sluice_run_id = ${quoteLiteral(run.runId)} GROUP BY 1`,
    );
    return new Map(rows.map((r) => [String(r.f), Number(r.n)]));
  };
  return single(outcome.inserted, writtenByFile, loadedAnyOf);
}
