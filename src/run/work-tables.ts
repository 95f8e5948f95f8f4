import type { DuckDBConnection } from "@duckdb/node-api";
import { queryRows } from "../engine/duckdb-query.js";
import { quoteIdent, quoteLiteral } from "../plan/sql-text.js";
import type { StagedForeignKeys } from "./stage-foreign-keys.js";
import type { Attempt } from "./unit.js";

/** Drops the engine tables and views of an attempt's units (and of its batch, groups and foreign keys). */
export async function dropWorkTables(
  con: DuckDBConnection,
  attempt: Pick<Attempt, "works" | "together"> | undefined,
  foreignKeys: StagedForeignKeys | undefined,
): Promise<void> {
  const names: string[] = ["sluice_batch_dedupe", ...(foreignKeys?.tables ?? [])];
  for (const work of attempt?.works ?? []) {
    for (const table of [...(work.checked?.tables ?? [])].reverse()) names.push(table, `${table}_lines`);
    const staged = work.staged;
    // A file staged with others is a view of its group's tables: dropped with them below.
    if (!staged || attempt?.together.groupOf(staged)) continue;
    names.push(staged.table, staged.malformedTable);
    if (staged.rowsTable) names.push(staged.rowsTable);
    if (staged.deferred) names.push(staged.deferred.rejectsTable, staged.deferred.rejectsScan);
  }
  await dropNamed(con, names);
  await attempt?.together.drop(con);
}

/**
 * Drops what exists of `names` (work tables and views are all temporary) in two round trips: each
 * statement costs a wake-up of the engine's thread, which on a loaded machine waits for its turn. Any
 * failure falls back to dropping them one by one, each a view or a table, failures ignored.
 */
async function dropNamed(con: DuckDBConnection, names: readonly string[]): Promise<void> {
  try {
    const listed = names.map(quoteLiteral).join(", ");
    const rows = await queryRows(
      con,
      `SELECT view_name AS name, 'VIEW' AS kind FROM duckdb_views() WHERE temporary AND view_name IN (${listed})
       UNION ALL SELECT table_name, 'TABLE' FROM duckdb_tables() WHERE temporary AND table_name IN (${listed})`,
    );
    const kinds = new Map(rows.map((r) => [String(r.name), String(r.kind)]));
    const statements = names
      .filter((name) => kinds.has(name))
      .map((name) => `DROP ${kinds.get(name)} IF EXISTS ${quoteIdent(name)}`);
    // Each object once (a name may be listed twice).
    const once = [...new Set(statements)];
    if (once.length > 0) await con.run(once.join(";\n"));
    return;
  } catch {
    // Below, one by one.
  }
  for (const name of names) {
    await con.run(`DROP VIEW IF EXISTS ${quoteIdent(name)}`).catch(() => undefined);
    await con.run(`DROP TABLE IF EXISTS ${quoteIdent(name)}`).catch(() => undefined);
  }
}
