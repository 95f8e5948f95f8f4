import type { DuckDBConnection } from "@duckdb/node-api";
import { describeColumns, queryNumber } from "../engine/duckdb-query.js";
import { quoteIdent, quoteLiteral } from "../plan/sql-text.js";
import { loadInsertSql } from "./catalog-sql.js";
import { batchTable } from "./prepare-batch.js";
import { boundHooks, type PublishHooks } from "./publish-hooks.js";
import { quotedTableName, splitTableName } from "./split-table-name.js";
import { undoTableIdent, undoTableName } from "./undo-table-name.js";
import type { ChildBatch, PublishBatch } from "./warehouse.js";
import {
  type SqlSession,
  syncUndoTable,
  tableColumns,
  type WriteBatchRequest,
  writeBatch,
} from "./write-batch.js";

/**
 * Writes the child tables of a `nested: tables` run inside the publish transaction, right after the
 * parent's write (while {@link batchTable} still holds the parent's rows): child rows of parents the
 * publish left out (files loaded meanwhile) are dropped; existing child rows whose parent the write
 * replaced go (merge: the children of every parent in the batch; replace, delete_insert and `--force`:
 * children whose parent row is gone); then each child table gets its rows appended, with schema
 * evolution and a load record of its own. The same statements on every warehouse: the parent keys of
 * the batch reach the warehouse through {@link PublishHooks.shareRows} (a temporary table on PostgreSQL).
 *
 * @example
 * await publishChildTables(session, engine, batch, children, hooks, { runId, loadedAt });
 */
export async function publishChildTables(
  session: SqlSession,
  engine: DuckDBConnection,
  batch: PublishBatch,
  children: readonly ChildBatch[],
  hooks: PublishHooks,
  write: Pick<WriteBatchRequest, "runId" | "loadedAt">,
): Promise<void> {
  const dialect = session.dialect;
  for (const child of children) {
    // Roots are the parent batch's rows; rows of files dropped from it go with them.
    await engine.run(
      `DELETE FROM ${quoteIdent(child.engineTable)} WHERE _sluice_root_id NOT IN (SELECT _sluice_id FROM ${quoteIdent(batchTable)})`,
    );
  }
  const indexed = new Set<string>();
  const removed = await removeReplacedChildren(session, batch, hooks, write.runId, indexed);
  for (const child of children) {
    const exclude =
      child.nestedColumns.length > 0 ? ` EXCLUDE (${child.nestedColumns.map(quoteIdent).join(", ")})` : "";
    // The parent's batch may be a view over the staged rows (read in place).
    const isView = await queryNumber(
      engine,
      `SELECT count(*) FROM duckdb_views() WHERE view_name = '${batchTable}' AND temporary`,
    );
    if (isView > 0) await engine.run(`DROP VIEW ${batchTable}`);
    await engine.run(
      `CREATE OR REPLACE TEMP TABLE ${batchTable} AS SELECT *${exclude} FROM ${quoteIdent(child.engineTable)}`,
    );
    const rows = await queryNumber(engine, `SELECT count(*) FROM ${batchTable}`);
    if (rows === 0) continue;
    const deleted = removed.get(child.table) ?? 0;
    removed.delete(child.table);
    const columns = await describeColumns(engine, `SELECT * FROM ${batchTable}`);
    const target = { table: child.table, mode: "append" as const };
    const prepared = { table: batchTable, columns };
    const outcome = await writeBatch({
      session,
      engine,
      batch: prepared,
      target,
      runId: write.runId,
      loadedAt: write.loadedAt,
      replaces: [],
      policy: batch.schemaEvolution ?? "evolve",
      sumColumns: [],
      source: { rows, sums: {} },
      ...boundHooks(hooks, prepared),
    });
    await indexRootLink(session, child.table, indexed);
    await session.exec(
      childLoadSql(
        batch,
        child.table,
        { inserted: outcome.inserted, deleted, saved: outcome.saved, reconciliation: outcome.reconciliation },
        dialect,
      ),
    );
  }
  // Child tables that lost rows and got none: their load records the before-images saved.
  for (const [table, deleted] of removed) {
    await session.exec(
      childLoadSql(batch, table, { inserted: 0, deleted, saved: 0, reconciliation: null }, dialect),
    );
  }
}

/** The load record of a child table: the parent's mode; rows removed are before-images saved. */
function childLoadSql(
  batch: PublishBatch,
  table: string,
  counts: {
    readonly inserted: number;
    readonly deleted: number;
    readonly saved: number;
    readonly reconciliation: Parameters<typeof loadInsertSql>[0]["reconciliation"];
  },
  dialect: SqlSession["dialect"],
): string {
  return loadInsertSql(
    {
      run_id: batch.run.runId,
      pipeline: batch.run.pipeline,
      table,
      mode: counts.deleted > 0 ? batch.target.mode : "append",
      inserted: counts.inserted,
      updated: 0,
      deleted: counts.deleted,
      saved: counts.saved + counts.deleted,
      loaded_at: batch.run.startedAt.toISOString(),
      reconciliation: counts.reconciliation,
    },
    dialect,
  );
}

/**
 * Deletes the existing child rows the parent's write replaced (merge: the children of every parent in
 * the batch; replace, delete_insert and `--force`: children whose root row is gone), each saved first
 * as a before-image in the child table's undo table under the run, so `sluice rollback` of the parent
 * puts them back. Returns the rows removed per child table.
 */
async function removeReplacedChildren(
  session: SqlSession,
  batch: PublishBatch,
  hooks: PublishHooks,
  runId: string,
  indexed: Set<string>,
): Promise<Map<string, number>> {
  const parent = batch.target.table!;
  const dialect = session.dialect;
  const quotedParent = quotedTableName(parent, dialect);
  const removed = new Map<string, number>();
  const merge = batch.target.mode === "merge";
  const orphans = batch.target.mode !== "append" || batch.replaces.length > 0;
  if (!merge && !orphans) return removed;
  let parentIds: string | undefined;
  for (const existing of await existingChildTables(session, parent)) {
    if (merge) {
      parentIds ??= await hooks.shareRows(
        "sluice_parent_ids",
        `SELECT DISTINCT _sluice_id FROM ${quoteIdent(batchTable)}`,
        [{ name: "_sluice_id", type: dialect.columnType("VARCHAR"), engineType: "VARCHAR" }],
      );
    }
    const gone = [
      ...(merge ? [`c._sluice_root_id IN (SELECT _sluice_id FROM ${parentIds})`] : []),
      ...(orphans
        ? [`NOT EXISTS (SELECT 1 FROM ${quotedParent} AS p WHERE p._sluice_id = c._sluice_root_id)`]
        : []),
    ].join(" OR ");
    await indexRootLink(session, existing, indexed);
    const quoted = quotedTableName(existing, dialect);
    const { schema, name } = splitTableName(existing, dialect);
    const columns = (await tableColumns(session, schema, name)) ?? [];
    const undo = { quoted: undoTableName(existing, dialect), name: undoTableIdent(existing, dialect) };
    await syncUndoTable(session, quoted, undo, columns);
    const list = columns.map((c) => quoteIdent(c.name)).join(", ");
    await session.exec(
      `INSERT INTO ${undo.quoted} (_sluice_undo_run, ${list}) SELECT ${quoteLiteral(runId)}, ${columns.map((c) => `c.${quoteIdent(c.name)}`).join(", ")} FROM ${quoted} AS c WHERE ${gone}`,
    );
    const n = await session.exec(`DELETE FROM ${quoted} AS c WHERE ${gone}`);
    if (n > 0) removed.set(existing, n);
  }
  return removed;
}

/**
 * Child rows are deleted by their root's key (`_sluice_root_id`): where the dialect indexes it, a child
 * table gets the index when it is created, or the first time a publish finds it missing (tables written
 * before). Checked once per table per publish (`indexed`).
 */
async function indexRootLink(session: SqlSession, table: string, indexed: Set<string>): Promise<void> {
  const index = session.dialect.linkIndex;
  if (!index || indexed.has(table)) return;
  indexed.add(table);
  const { schema, name } = splitTableName(table, session.dialect);
  if ((await session.rows(index.existsSql(schema, name, "_sluice_root_id"))).length > 0) return;
  await session.exec(index.createSql(quotedTableName(table, session.dialect), "_sluice_root_id"));
}

/** Child tables of `parent` in the warehouse: `<parent>__...` tables with a `_sluice_root_id` column. */
export async function existingChildTables(session: SqlSession, parent: string): Promise<string[]> {
  const { schema, name } = splitTableName(parent, session.dialect);
  const prefix = `${name}__`;
  const rows = await session.rows(
    `SELECT DISTINCT table_name AS t FROM information_schema.columns WHERE table_schema = ${quoteLiteral(schema)} AND column_name = '_sluice_root_id' AND left(table_name, ${prefix.length}) = ${quoteLiteral(prefix)}`,
  );
  const qualified = parent.includes(".") ? `${schema}.` : "";
  return rows.map((r) => `${qualified}${String(r.t)}`);
}
