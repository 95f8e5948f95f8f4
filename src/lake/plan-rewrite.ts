import type { DuckDBConnection } from "@duckdb/node-api";
import { quoteIdent } from "../plan/sql-text.js";
import type { CommitIntent } from "./delta-commit.js";
import type { AddAction } from "./delta-log.js";
import { snapshotSelectSql } from "./delta-reader.js";
import type { DeltaSnapshot } from "./delta-snapshot.js";

/** What a write replaces in the table, and the SQL of the rows it writes. */
export interface Rewrite {
  /** The rows to write: the batch, plus the kept rows of files the write replaces. */
  readonly sql: string;
  /** Files the commit removes (replace_partitions adds its own once the batch's partitions are known). */
  readonly removed: AddAction[];
  readonly intent: CommitIntent;
  /** Releases what reading the replaced files needed; undefined when nothing was read. */
  readonly cleanup: (() => Promise<void>) | undefined;
}

/**
 * Plans which existing files a write replaces: all of them (overwrite), those holding a batch key
 * (merge, copy-on-write), or those holding rows `deleteWhere` matches (append, replace_partitions).
 *
 * @example
 * const rewrite = await planRewrite(con, snapshot, { mode: "merge", keys: ["id"], batch, batchSql, projection });
 */
export async function planRewrite(
  con: DuckDBConnection,
  snapshot: DeltaSnapshot | undefined,
  write: {
    readonly mode: "append" | "overwrite" | "replace_partitions" | "merge";
    readonly keys: readonly string[] | undefined;
    readonly deleteWhere: string | undefined;
    /** The batch's temporary table (merge materializes the batch into it). */
    readonly batch: string;
    readonly batchSql: string;
    readonly projection: readonly string[];
  },
): Promise<Rewrite> {
  const { mode } = write;
  const sql = `SELECT ${write.projection.join(", ")} FROM (${write.batchSql})`;
  const intent: CommitIntent = { isolation: mode === "append" ? "append" : "read-all" };
  if (!snapshot) return { sql, removed: [], intent, cleanup: undefined };
  if (mode === "overwrite") return { sql, removed: [...snapshot.files], intent, cleanup: undefined };
  if (snapshot.files.length === 0) return { sql, removed: [], intent, cleanup: undefined };
  if (mode === "merge") {
    const merged = await planMerge(con, snapshot, write.batch, write.keys!, write.projection);
    return { sql: merged.sql, removed: merged.touched, intent, cleanup: merged.cleanup };
  }
  if (!write.deleteWhere) return { sql, removed: [], intent, cleanup: undefined };
  const rewrite = await planDelete(con, snapshot, write.deleteWhere, sql);
  return {
    sql: rewrite.sql,
    removed: rewrite.touched,
    intent: rewrite.touched.length > 0 ? { isolation: "read-all" } : intent,
    cleanup: rewrite.cleanup,
  };
}

/**
 * Copy-on-write merge: files holding any batch key are rewritten with their
 * untouched rows plus the whole batch.
 */
async function planMerge(
  con: DuckDBConnection,
  snapshot: DeltaSnapshot,
  batch: string,
  keys: readonly string[],
  projection: readonly string[],
): Promise<{ touched: AddAction[]; sql: string; cleanup(): Promise<void> }> {
  const all = await snapshotSelectSql(con, snapshot, snapshot.files, { withFileName: true });
  const on = keys.map((k) => `t.${quoteIdent(k)} = b.${quoteIdent(k)}`).join(" AND ");
  let touchedPaths: Set<string>;
  try {
    const reader = await con.runAndReadAll(
      `SELECT DISTINCT t.__sluice_file FROM (${all.sql}) t WHERE EXISTS (SELECT 1 FROM ${quoteIdent(batch)} b WHERE ${on})`,
    );
    touchedPaths = new Set(reader.getRows().map((r) => String(r[0])));
  } finally {
    await all.cleanup();
  }
  const touched = snapshot.files.filter((f) => touchedPaths.has(f.path));
  const batchSql = `SELECT ${projection.join(", ")} FROM ${quoteIdent(batch)}`;
  if (touched.length === 0) return { touched, sql: batchSql, cleanup: async () => undefined };
  const old = await snapshotSelectSql(con, snapshot, touched);
  const kept = `SELECT * FROM (${old.sql}) t WHERE NOT EXISTS (SELECT 1 FROM ${quoteIdent(batch)} b WHERE ${on})`;
  return { touched, sql: `(${kept}) UNION ALL BY NAME (${batchSql})`, cleanup: old.cleanup };
}

/** Files holding rows that match `predicate`, and SQL of their other rows plus the batch. */
async function planDelete(
  con: DuckDBConnection,
  snapshot: DeltaSnapshot,
  predicate: string,
  batchSql: string,
): Promise<{ touched: AddAction[]; sql: string; cleanup(): Promise<void> }> {
  const all = await snapshotSelectSql(con, snapshot, snapshot.files, { withFileName: true });
  let touchedPaths: Set<string>;
  try {
    const reader = await con.runAndReadAll(
      `SELECT DISTINCT __sluice_file FROM (${all.sql}) WHERE coalesce((${predicate}), false)`,
    );
    touchedPaths = new Set(reader.getRows().map((r) => String(r[0])));
  } finally {
    await all.cleanup();
  }
  const touched = snapshot.files.filter((f) => touchedPaths.has(f.path));
  if (touched.length === 0) return { touched, sql: batchSql, cleanup: async () => undefined };
  const old = await snapshotSelectSql(con, snapshot, touched);
  const kept = `SELECT * FROM (${old.sql}) WHERE NOT coalesce((${predicate}), false)`;
  return { touched, sql: `(${kept}) UNION ALL BY NAME (${batchSql})`, cleanup: old.cleanup };
}
