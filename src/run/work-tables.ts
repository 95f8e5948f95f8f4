import type { DuckDBConnection } from "@duckdb/node-api";
import { quoteIdent } from "../plan/sql-text.js";
import type { StagedForeignKeys } from "./stage-foreign-keys.js";
import type { Attempt } from "./unit.js";

/** Drops the engine tables and views of an attempt's units (and of its batch, groups and foreign keys). */
export async function dropWorkTables(
  con: DuckDBConnection,
  attempt: Pick<Attempt, "works" | "together"> | undefined,
  foreignKeys: StagedForeignKeys | undefined,
): Promise<void> {
  const drop = async (name: string) => {
    await con.run(`DROP VIEW IF EXISTS ${quoteIdent(name)}`).catch(() => undefined);
    await con.run(`DROP TABLE IF EXISTS ${quoteIdent(name)}`).catch(() => undefined);
  };
  await drop("sluice_batch_dedupe");
  for (const table of foreignKeys?.tables ?? []) await drop(table);
  for (const work of attempt?.works ?? []) {
    for (const table of [...(work.checked?.tables ?? [])].reverse()) {
      await drop(table);
      await drop(`${table}_lines`);
    }
    const staged = work.staged;
    // A file staged with others is a view of its group's tables: dropped with them below.
    if (!staged || attempt?.together.groupOf(staged)) continue;
    for (const table of [staged.table, staged.malformedTable]) await drop(table);
    if (staged.deferred) {
      for (const table of [staged.deferred.rejectsTable, staged.deferred.rejectsScan]) await drop(table);
    }
  }
  await attempt?.together.drop(con);
}
