import { quoteIdent } from "../plan/sql-text.js";
import { type CatalogTable, catalogDdl, catalogTables } from "./catalog-schema.js";
import { type SqlSession, tableColumns } from "./write-batch.js";

/** Below this many rows to delete, a plain DELETE is cheap enough. */
export const REBUILD_FROM_ROWS = 1_000;

/**
 * Deletes the rows of catalog table `sluice.<table>` matching `where`; returns how many. In DuckDB a DELETE
 * of rows already checkpointed from a table with a primary key costs time superlinear in the rows deleted
 * (its index entries are removed one by one): ~6 s of CPU for 100,000 claims, half of it in the COMMIT.
 * So when at least {@link REBUILD_FROM_ROWS} rows and a quarter of the table go, the rows kept are copied
 * into a new table of the catalog's definition, which then replaces the old one — in the caller's
 * transaction, so a crash leaves the table as it was. Only for a warehouse with one writer (DuckDB): a
 * concurrent writer would lose what it wrote meanwhile.
 *
 * @example
 * const pruned = await pruneByRebuild(session, "stream_published", "pipeline = 'events' AND ...");
 */
export async function pruneByRebuild(session: SqlSession, table: string, where: string): Promise<number> {
  const definition = catalogTables.find((t) => t.name === table);
  if (!definition) throw new Error(`not a catalog table: ${table}`);
  const quoted = `sluice.${quoteIdent(table)}`;
  const [counts] = await session.rows(
    `SELECT count(*) FILTER (WHERE ${where}) AS pruned, count(*) AS total FROM ${quoted}`,
  );
  const pruned = Number(counts?.pruned ?? 0);
  const total = Number(counts?.total ?? 0);
  if (pruned < REBUILD_FROM_ROWS || pruned * 4 < total) {
    return pruned === 0 ? 0 : session.exec(`DELETE FROM ${quoted} WHERE ${where}`);
  }
  const kept: CatalogTable = { ...definition, name: `${table}_kept`, indexes: [] };
  const keptQuoted = `sluice.${quoteIdent(kept.name)}`;
  // The columns the table has (all of the catalog's, unless it was created by an earlier build).
  const have = new Set((await tableColumns(session, "sluice", table))?.map((c) => c.name));
  const columns = definition.columns
    .filter((c) => have.has(c.name))
    .map((c) => quoteIdent(c.name))
    .join(", ");
  await session.exec(`DROP TABLE IF EXISTS ${keptQuoted}`);
  for (const ddl of catalogDdl(session.dialect, [kept])) await session.exec(ddl);
  await session.exec(
    `INSERT INTO ${keptQuoted} (${columns}) SELECT ${columns} FROM ${quoted} WHERE (${where}) IS NOT TRUE`,
  );
  await session.exec(`DROP TABLE ${quoted}`);
  await session.exec(`ALTER TABLE ${keptQuoted} RENAME TO ${quoteIdent(table)}`);
  return pruned;
}
