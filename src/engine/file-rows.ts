import { statSync } from "node:fs";
import type { DuckDBConnection } from "@duckdb/node-api";
import { type JsonRow, queryRows } from "./duckdb-query.js";

/** Answers kept (a run asks about a few files; a long-lived worker must not grow without end). */
const KEPT = 64;
const remembered = new Map<string, { readonly version: string; readonly rows: JsonRow[] }>();

/** A file's version as far as its content goes: device, inode, size and modification time. */
function versionOf(path: string): string | undefined {
  try {
    const s = statSync(path, { bigint: true });
    return `${s.dev}:${s.ino}:${s.size}:${s.mtimeNs}`;
  } catch {
    return undefined;
  }
}

/**
 * Rows of a query that reads only the file at `path` (a CSV sniff, its header line), remembered while
 * the file is unchanged: a run samples a file when it validates the project and sniffs it again when it
 * stages it, and the second sniff of a large file costs as much as the first. The key is the query's
 * text with the file's device, inode, size and modification time; errors are not remembered.
 *
 * @example
 * const [sniff] = await fileRows(con, "landing/in/a.csv", csvSniffSql("landing/in/a.csv", {}, limit));
 */
export async function fileRows(con: DuckDBConnection, path: string, sql: string): Promise<JsonRow[]> {
  const version = versionOf(path);
  if (version === undefined) return queryRows(con, sql);
  const hit = remembered.get(sql);
  if (hit?.version === version) return structuredClone(hit.rows);
  const rows = await queryRows(con, sql);
  // Read again after the query: a file written meanwhile is not remembered under its old version.
  if (versionOf(path) === version) {
    remembered.delete(sql);
    remembered.set(sql, { version, rows: structuredClone(rows) });
    if (remembered.size > KEPT) remembered.delete(remembered.keys().next().value!);
  }
  return rows;
}
