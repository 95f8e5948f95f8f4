import type { DuckDBConnection } from "@duckdb/node-api";
import type { TargetConfig } from "../config/schema.js";
import { describeColumns, queryNumber, queryRows } from "../engine/duckdb-query.js";
import { keysRepeat } from "../engine/keys-repeat.js";
import { SluiceError } from "../errors.js";
import type { TypedColumn } from "../plan/schema-plan.js";
import { type ColumnInfo, quoteIdent, quoteLiteral } from "../plan/sql-text.js";
import { cdcBatchSql, dropCdcWork } from "./cdc-events.js";

/** A run's target rows materialized in the engine, checked and ready to write. */
export interface PreparedBatch {
  /** Temp table in the engine (unquoted). */
  readonly table: string;
  /** Columns with DuckDB types. */
  readonly columns: readonly TypedColumn[];
}

/** Engine table holding the batch of the current publish. */
export const batchTable = "sluice_batch";

/**
 * Materializes a run's rows in the engine (DuckDB) as {@link batchTable}: change events are reduced to
 * one row per key (`cdc`), then keys are checked — present, never NULL, unique for merge and scd2 —
 * before anything reaches the warehouse. Every problem is one sentence naming the table and the keys.
 *
 * @example
 * const batch = await prepareBatch(engine, rowsSql, pipeline.target);
 */
export async function prepareBatch(
  engine: DuckDBConnection,
  rowsSql: string,
  target: TargetConfig,
  options: {
    readonly inPlace?: boolean;
    /**
     * The warehouse checks the keys' values on its stage (a single-pass merge on PostgreSQL, see
     * `checkStagedKeys`): here only that the key columns are there (reading the values would read the
     * files again).
     */
    readonly keysOnStage?: boolean;
  } = {},
): Promise<PreparedBatch> {
  const sql = target.mode === "cdc" ? await cdcBatchSql(engine, rowsSql, target) : rowsSql;
  // Repeatable rows are read in place (a view over the staged files) rather than copied, saving a full
  // pass over the data: append and replace read them once; merge's key checks and its few reads of the
  // batch each cost a scan of the staged table, less than writing a copy of it.
  const inPlace =
    options.inPlace === true &&
    (target.mode === "append" || target.mode === "replace" || target.mode === "merge");
  await engine.run(`DROP VIEW IF EXISTS ${batchTable}`).catch(() => undefined);
  await engine.run(`DROP TABLE IF EXISTS ${batchTable}`).catch(() => undefined);
  await engine.run(`CREATE OR REPLACE TEMP ${inPlace ? "VIEW" : "TABLE"} ${batchTable} AS ${sql}`);
  await dropCdcWork(engine);
  const columns = await describeColumns(engine, `SELECT * FROM ${batchTable}`);
  await checkBatchKeys(engine, batchTable, target, columns, { valuesOnStage: options.keysOnStage === true });
  return { table: batchTable, columns };
}

/** Removes the rows of the given source files from the batch (loaded meanwhile by another process). */
export async function dropBatchFiles(engine: DuckDBConnection, paths: readonly string[]): Promise<void> {
  if (paths.length === 0) return;
  const where = `_sluice_source_file NOT IN (${paths.map(quoteLiteral).join(", ")})`;
  const isView =
    (await queryNumber(
      engine,
      `SELECT count(*) FROM duckdb_views() WHERE view_name = '${batchTable}' AND temporary`,
    )) > 0;
  if (isView) {
    // A batch read in place: materialize what is left of it.
    await engine.run(
      `CREATE OR REPLACE TEMP TABLE ${batchTable}_kept AS SELECT * FROM ${batchTable} WHERE ${where}`,
    );
    await engine.run(`DROP VIEW ${batchTable}`);
    await engine.run(`ALTER TABLE ${batchTable}_kept RENAME TO ${batchTable}`);
    return;
  }
  await engine.run(`DELETE FROM ${batchTable} WHERE NOT (${where})`);
}

/** Row count and sums of the batch (the source side of reconciliation). */
export async function batchStats(
  engine: DuckDBConnection,
  sumColumns: readonly string[],
): Promise<{ rows: number; sums: Record<string, number> }> {
  const sums = sumColumns.map((c, i) => `CAST(sum(${quoteIdent(c)}) AS DOUBLE) AS s${i}`);
  const row = (
    await queryRows(engine, `SELECT count(*) AS n${sums.map((s) => `, ${s}`).join("")} FROM ${batchTable}`)
  )[0]!;
  return {
    rows: Number(row.n),
    sums: Object.fromEntries(sumColumns.map((c, i) => [c, Number(row[`s${i}`] ?? 0)])),
  };
}

/**
 * The key checks of a batch, before anything is written: key columns present, `delete_insert`
 * partitions present, no NULL key, and for `merge` / `scd2` no key twice. `relation` is a table or view
 * of the engine holding the batch's rows. Every problem is a `KEY_VIOLATION` naming the table and keys.
 *
 * @example
 * await checkBatchKeys(engine, "sluice_batch", pipeline.target, await describeColumns(engine, "SELECT * FROM sluice_batch"));
 */
export async function checkBatchKeys(
  engine: DuckDBConnection,
  relation: string,
  target: TargetConfig,
  columns: readonly ColumnInfo[],
  options: { readonly valuesOnStage?: boolean } = {},
): Promise<void> {
  const table = target.table ?? "?";
  const source = quoteIdent(relation);
  const names = new Set(columns.map((c) => c.name));
  const keys = target.keys ?? [];
  const needsKeys = ["merge", "scd2", "cdc"].includes(target.mode);
  const missing = keys.filter((k) => !names.has(k));
  if (missing.length > 0 || (needsKeys && keys.length === 0)) {
    throw new SluiceError(
      "KEY_VIOLATION",
      `table ${table}: key column${missing.length === 1 ? "" : "s"} ${missing.join(", ") || "(none configured)"} not in the data (columns: ${[...names].filter((n) => !n.startsWith("_sluice_")).join(", ")}); nothing was published`,
    );
  }
  const partitions = target.partition_by ?? [];
  if (target.mode === "delete_insert") {
    const absent = partitions.filter((p) => !names.has(p));
    if (partitions.length === 0 || absent.length > 0) {
      throw new SluiceError(
        "KEY_VIOLATION",
        `table ${table}: mode delete_insert needs partition_by columns present in the data${absent.length ? ` (missing: ${absent.join(", ")})` : ""}`,
      );
    }
  }
  if (options.valuesOnStage) return;
  if (keys.length > 0) {
    const nullRows = await queryRows(
      engine,
      `SELECT count(*) AS n, min(_sluice_source_file) AS file FROM ${source} WHERE ${keys.map((k) => `${quoteIdent(k)} IS NULL`).join(" OR ")}`,
    );
    const n = Number(nullRows[0]?.n ?? 0);
    if (n > 0) {
      throw new SluiceError(
        "KEY_VIOLATION",
        `table ${table}: ${n} row${n === 1 ? " has" : "s have"} a NULL key (${keys.join(", ")}), e.g. in ${String(nullRows[0]?.file)}; nothing was published`,
      );
    }
  }
  // A cheap exact test first (a bitmap for one integer key); the keys are listed only when some repeat.
  if (
    keys.length > 0 &&
    (target.mode === "merge" || target.mode === "scd2") &&
    (await keysRepeat(engine, relation, keys, columns))
  ) {
    const keyList = keys.map(quoteIdent).join(", ");
    const dupes = await queryRows(
      engine,
      `SELECT ${keys.map((k) => `CAST(${quoteIdent(k)} AS VARCHAR) AS ${quoteIdent(k)}`).join(", ")}, count(*) AS n FROM ${source} GROUP BY ${keyList} HAVING count(*) > 1 ORDER BY n DESC LIMIT 5`,
    );
    if (dupes.length > 0) {
      const total = await queryNumber(
        engine,
        `SELECT count(*) FROM (SELECT 1 FROM ${source} GROUP BY ${keyList} HAVING count(*) > 1)`,
      );
      const shown = dupes
        .map((d) => `${keys.map((k) => `${k}=${String(d[k])}`).join(",")} (${d.n} rows)`)
        .join("; ");
      throw new SluiceError(
        "KEY_VIOLATION",
        `table ${table}: ${total} key${total === 1 ? " appears" : "s appear"} more than once in the batch for mode ${target.mode}: ${shown}; add dedupe: { keys: [${keys.join(", ")}] } to the pipeline or fix the source; nothing was published`,
      );
    }
  }
}
