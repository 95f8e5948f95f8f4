import { SluiceError } from "../errors.js";
import { quoteLiteral } from "../plan/sql-text.js";
import { undoSteps } from "../plan/write-modes.js";
import { loadInsertSql, runInsertSql } from "./catalog-sql.js";
import { existingChildTables } from "./child-tables.js";
import { runTotalsSql } from "./run-totals.js";
import { quotedTableName, splitTableName } from "./split-table-name.js";
import { undoTableIdent, undoTableName } from "./undo-table-name.js";
import type { ChildRollback, LoadRecord, RollbackResult } from "./warehouse.js";
import { type SqlSession, tableColumns } from "./write-batch.js";

/**
 * SQL listing the loads of a table, oldest first; with `newest`, only that many of the latest (read by the
 * (table_name, seq) order newest first, so the rest are neither sorted nor converted). Pure.
 */
export function historySql(table: string, newest?: number): string {
  const columns =
    "run_id, pipeline, table_name, mode, inserted, updated, deleted, saved, CAST(loaded_at AS VARCHAR) AS loaded_at, rolled_back_by";
  const where = `FROM sluice.loads WHERE table_name = ${quoteLiteral(table)}`;
  if (newest === undefined) return `SELECT ${columns} ${where} ORDER BY seq`;
  return `SELECT ${columns} FROM (SELECT seq, ${columns} ${where} ORDER BY seq DESC LIMIT ${Math.max(0, Math.trunc(newest))}) newest ORDER BY seq`;
}

/** Rows of {@link historySql} as records. */
export function toLoadRecords(rows: readonly Record<string, unknown>[]): LoadRecord[] {
  return rows.map((r) => ({
    run_id: String(r.run_id),
    pipeline: String(r.pipeline),
    table: String(r.table_name),
    mode: String(r.mode),
    inserted: Number(r.inserted),
    updated: Number(r.updated),
    deleted: Number(r.deleted),
    saved: Number(r.saved),
    loaded_at: String(r.loaded_at),
    rolled_back_by: (r.rolled_back_by as string | null) ?? null,
  }));
}

/**
 * Restores `table` as it was right after the load of `toRunId`, inside the caller's transaction: every
 * later load still in effect is undone newest first (its rows deleted, its before-images put back), its
 * ledger entries become `rolled_back` (the files may be loaded again), its watermarks are forgotten,
 * and the rollback is recorded as run `runId` and as a load of mode `rollback`.
 *
 * @example
 * await rollbackTable(session, "orders", "20261121T223344Z-9f2c1a", newRunId(new Date()));
 */
export async function rollbackTable(
  session: SqlSession,
  table: string,
  toRunId: string,
  runId: string,
): Promise<RollbackResult> {
  const loads = toLoadRecords(await session.rows(historySql(table)));
  if (loads.length === 0) throw new SluiceError("RUN_NOT_FOUND", `table ${table}: no loads recorded`);
  const to = loads.find((l) => l.run_id === toRunId && l.mode !== "rollback");
  if (!to) {
    throw new SluiceError(
      "RUN_NOT_FOUND",
      `table ${table}: run ${toRunId} did not load this table (see \`sluice history ${table}\`)`,
    );
  }
  if (to.rolled_back_by) {
    throw new SluiceError(
      "USAGE",
      `table ${table}: run ${toRunId} was itself undone by rollback ${to.rolled_back_by}; choose a load still in effect`,
    );
  }
  const later = loads
    .slice(loads.indexOf(to) + 1)
    .filter((l) => l.mode !== "rollback" && l.rolled_back_by === null)
    .reverse();
  const dialect = session.dialect;
  const { deleted, restored } = await undoLoads(
    session,
    table,
    later.map((l) => l.run_id),
  );
  const undone = later.map((l) => l.run_id);
  const now = new Date();
  if (undone.length > 0) {
    const list = undone.map(quoteLiteral).join(", ");
    await session.exec(
      `UPDATE sluice.loads SET rolled_back_by = ${quoteLiteral(runId)} WHERE run_id IN (${list}) AND table_name = ${quoteLiteral(table)}`,
    );
    await session.exec(
      `UPDATE sluice.files SET status = 'rolled_back' WHERE run_id IN (${list}) AND status = 'loaded'`,
    );
    await session.exec(`DELETE FROM sluice.watermarks WHERE run_id IN (${list})`);
  }
  const children = await rollbackChildTables(session, table, undone, runId, to.pipeline);
  const result: RollbackResult = {
    run_id: runId,
    table,
    to: toRunId,
    undone,
    deleted,
    restored,
    ...(children.length > 0 ? { children } : {}),
  };
  const report = {
    run_id: runId,
    pipeline: to.pipeline,
    kind: "rollback",
    status: "succeeded",
    started_at: now.toISOString(),
    finished_at: now.toISOString(),
    sequence: 0,
    files: [],
    rows: { read: 0, loaded: restored, quarantined: 0, malformed: 0, duplicates: 0 },
    checks: [],
    error: null,
    log: null,
    quarantine: null,
    rollback: result,
  };
  const record = {
    runId,
    pipeline: to.pipeline,
    status: "succeeded",
    startedAt: now,
    finishedAt: now,
    report,
  } as const;
  await session.exec(runInsertSql(record, dialect));
  await session.exec(runTotalsSql(record));
  await session.exec(rollbackLoadSql(runId, to.pipeline, table, { deleted, restored }, dialect));
  return result;
}

/** The load record of a rollback of `table`. */
function rollbackLoadSql(
  runId: string,
  pipeline: string,
  table: string,
  counts: { readonly deleted: number; readonly restored: number },
  dialect: SqlSession["dialect"],
): string {
  return loadInsertSql(
    {
      run_id: runId,
      pipeline,
      table,
      mode: "rollback",
      inserted: counts.restored,
      updated: 0,
      deleted: counts.deleted,
      saved: 0,
      loaded_at: new Date().toISOString(),
      reconciliation: null,
    },
    dialect,
  );
}

/**
 * Undoes loads of `table`, newest first: the rows each wrote are deleted and its before-images put back.
 */
async function undoLoads(
  session: SqlSession,
  table: string,
  runIds: readonly string[],
): Promise<{ deleted: number; restored: number }> {
  const dialect = session.dialect;
  const { schema, name } = splitTableName(table, dialect);
  const quoted = quotedTableName(table, dialect);
  const undo = undoTableName(table, dialect);
  const targetColumns = (await tableColumns(session, schema, name)) ?? [];
  const undoName = undoTableIdent(table, dialect);
  const undoColumns = new Set(((await tableColumns(session, "sluice", undoName)) ?? []).map((c) => c.name));
  const columns = targetColumns.map((c) => c.name).filter((c) => undoColumns.has(c));
  if (targetColumns.length === 0 && runIds.length > 0) {
    throw new SluiceError("WAREHOUSE_ERROR", `table ${table}: does not exist any more; cannot roll it back`);
  }
  let deleted = 0;
  let restored = 0;
  for (const run of runIds) {
    for (const step of undoSteps(quoted, undo, run, columns)) {
      const n = await session.exec(step.sql);
      if (step.counts === "deleted") deleted += n;
      if (step.counts === "inserted") restored += n;
    }
  }
  return { deleted, restored };
}

/**
 * `nested: tables`: the child tables of `table` go back with it. The loads of the undone runs are undone
 * in each child table (their child rows deleted, the child rows they replaced put back from the child's
 * undo table), and each child table gets a load of mode `rollback`.
 */
async function rollbackChildTables(
  session: SqlSession,
  table: string,
  undone: readonly string[],
  runId: string,
  pipeline: string,
): Promise<ChildRollback[]> {
  if (undone.length === 0) return [];
  const results: ChildRollback[] = [];
  const runs = new Set(undone);
  for (const child of await existingChildTables(session, table)) {
    const loads = toLoadRecords(await session.rows(historySql(child)))
      .filter((l) => runs.has(l.run_id) && l.mode !== "rollback" && l.rolled_back_by === null)
      .reverse();
    if (loads.length === 0) continue;
    const ids = loads.map((l) => l.run_id);
    const counts = await undoLoads(session, child, ids);
    await session.exec(
      `UPDATE sluice.loads SET rolled_back_by = ${quoteLiteral(runId)} WHERE run_id IN (${ids.map(quoteLiteral).join(", ")}) AND table_name = ${quoteLiteral(child)}`,
    );
    await session.exec(rollbackLoadSql(runId, pipeline, child, counts, session.dialect));
    results.push({ table: child, undone: ids, ...counts });
  }
  return results;
}
