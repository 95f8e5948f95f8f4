import type { DuckDBConnection } from "@duckdb/node-api";
import { firstLine, SluiceError } from "../errors.js";
import { quoteIdent, quoteLiteral } from "../plan/sql-text.js";
import type { AddAction } from "./delta-log.js";
import { type DeltaType, deltaToDuckType } from "./delta-schema.js";
import { type DeltaSnapshot, loadSnapshot, type SnapshotOptions } from "./delta-snapshot.js";
import { type ColumnPredicate, predicateSql, pruneFiles } from "./file-pruning.js";
import { describeTable, type LakeTable, localCopies, tableFile } from "./lake-table.js";
import { deltaUriToPath, isAbsoluteDeltaPath, partitionLiteral } from "./partition-values.js";

/** Options of {@link registerDeltaView}. */
export interface DeltaViewOptions extends SnapshotOptions {
  /** Schema to create the view in (a persistent view); without it the view is TEMP. */
  readonly schema?: string;
  /** Simple conjunctive predicate: prunes partitions and files by stats, and filters the view. */
  readonly where?: readonly ColumnPredicate[];
}

/** What {@link registerDeltaView} created. */
export interface DeltaView {
  readonly snapshot: DeltaSnapshot;
  /** Data files the view reads (after pruning). */
  readonly files: readonly AddAction[];
  readonly sql: string;
  /** Removes downloaded copies (non-local storage only); the view stops working afterwards. */
  cleanup(): Promise<void>;
}

/**
 * Registers a DuckDB view over a Delta table snapshot: one `read_parquet`
 * per partition (partition values as typed constant columns), glued with
 * UNION ALL BY NAME; columns missing from older files read as NULL.
 *
 * @example
 * await registerDeltaView(con, { storage, path: "orders" }, "orders", { version: 3 });
 * await con.runAndReadAll("SELECT count(*) FROM orders");
 */
export async function registerDeltaView(
  con: DuckDBConnection,
  table: LakeTable,
  viewName: string,
  options: DeltaViewOptions = {},
): Promise<DeltaView> {
  const snapshot = await loadSnapshot(con, table, options);
  const files = options.where ? pruneFiles(snapshot, options.where) : snapshot.files;
  const built = await snapshotSelectSql(con, snapshot, files);
  let sql = built.sql;
  if (options.where && options.where.length > 0) {
    sql = `SELECT * FROM (${sql}) WHERE ${options.where.map(predicateSql).join(" AND ")}`;
  }
  const name = options.schema
    ? `${quoteIdent(options.schema)}.${quoteIdent(viewName)}`
    : quoteIdent(viewName);
  try {
    await con.run(`CREATE OR REPLACE ${options.schema ? "" : "TEMP "}VIEW ${name} AS ${sql}`);
  } catch (error) {
    await built.cleanup();
    throw new SluiceError(
      "LAKE_ERROR",
      `${describeTable(table)}: cannot create view ${viewName}: ${firstLine((error as Error).message)}`,
      { cause: error },
    );
  }
  return { snapshot, files, sql, cleanup: built.cleanup };
}

/**
 * SELECT over the given live files of a snapshot, with the snapshot's columns
 * (partition values as constants). With `withFileName`, adds `__sluice_file`
 * (the file's `add.path`) for writers that rewrite files.
 *
 * @example
 * const { sql } = await snapshotSelectSql(con, snapshot, snapshot.files);
 */
export async function snapshotSelectSql(
  con: DuckDBConnection,
  snapshot: DeltaSnapshot,
  files: readonly AddAction[],
  options: { readonly withFileName?: boolean } = {},
): Promise<{ sql: string; cleanup(): Promise<void> }> {
  const fields = snapshot.schema.fields;
  const partitionColumns = new Set(snapshot.metadata.partitionColumns);
  const typeOf = new Map<string, DeltaType>(fields.map((f) => [f.name, f.type]));
  const nullRow = fields.map((f) => `CAST(NULL AS ${deltaToDuckType(f.type)}) AS ${quoteIdent(f.name)}`);
  if (options.withFileName) nullRow.push("CAST(NULL AS VARCHAR) AS __sluice_file");
  if (files.length === 0)
    return { sql: `SELECT ${nullRow.join(", ")} WHERE false`, cleanup: async () => undefined };

  const local = await localDataFiles(snapshot.table, files);
  const pathOf = new Map(files.map((f, i) => [f, local.paths[i]!]));
  const physical = await describeFiles(con, local.paths, snapshot);
  const overlapping = [...partitionColumns].filter((c) => physical.has(c));

  const groups = new Map<string, AddAction[]>();
  for (const file of files) {
    const key = options.withFileName
      ? file.path
      : JSON.stringify(snapshot.metadata.partitionColumns.map((c) => file.partitionValues[c] ?? null));
    const group = groups.get(key) ?? [];
    group.push(file);
    groups.set(key, group);
  }
  const parts: string[] = [];
  for (const group of groups.values()) {
    const first = group[0]!;
    const constants = snapshot.metadata.partitionColumns.map(
      (c) => `${partitionLiteral(first.partitionValues[c], typeOf.get(c) ?? "string")} AS ${quoteIdent(c)}`,
    );
    if (options.withFileName) constants.push(`${quoteLiteral(first.path)} AS __sluice_file`);
    const list = group.map((f) => quoteLiteral(pathOf.get(f)!)).join(", ");
    const source = `read_parquet([${list}], union_by_name = true, hive_partitioning = false)`;
    let star = "*";
    if (overlapping.length > 0) {
      const present = await describeFiles(
        con,
        group.map((f) => pathOf.get(f)!),
        snapshot,
      );
      const drop = overlapping.filter((c) => present.has(c));
      if (drop.length > 0) star = `* EXCLUDE (${drop.map(quoteIdent).join(", ")})`;
    }
    parts.push(`SELECT ${[star, ...constants].join(", ")} FROM ${source}`);
  }
  const union = parts.length === 1 ? parts[0]! : parts.map((p) => `(${p})`).join(" UNION ALL BY NAME ");
  const projection = fields.map((f) => {
    const col = quoteIdent(f.name);
    if (partitionColumns.has(f.name)) return col;
    const type = physical.get(f.name);
    if (type === undefined) return `CAST(NULL AS ${deltaToDuckType(f.type)}) AS ${col}`;
    if (f.type === "timestamp" && /^TIMESTAMP(_NS|_MS|_S)?$/.test(type))
      return `make_timestamptz(epoch_us(CAST(${col} AS TIMESTAMP))) AS ${col}`;
    return col;
  });
  if (options.withFileName) projection.push("__sluice_file");
  return { sql: `SELECT ${projection.join(", ")} FROM (${union})`, cleanup: local.cleanup };
}

/** Local paths of data files (downloaded for non-local storage). */
async function localDataFiles(
  table: LakeTable,
  files: readonly AddAction[],
): Promise<{ readonly paths: readonly string[]; cleanup(): Promise<void> }> {
  const relative: string[] = [];
  const absolute = new Map<number, string>();
  files.forEach((f, i) => {
    const decoded = deltaUriToPath(f.path);
    if (isAbsoluteDeltaPath(decoded)) absolute.set(i, decoded);
    relative.push(isAbsoluteDeltaPath(decoded) ? "" : tableFile(table, decoded));
  });
  if (absolute.size > 0 && table.storage.kind !== "local") {
    throw new SluiceError(
      "LAKE_UNSUPPORTED_FEATURE",
      `${describeTable(table)}: absolute data file paths on remote storage are not supported`,
    );
  }
  const wanted = relative.filter((p) => p !== "");
  const copies = await localCopies(table.storage, wanted);
  let next = 0;
  const paths = files.map((_, i) => absolute.get(i) ?? copies.paths[next++]!);
  return { paths, cleanup: copies.cleanup };
}

/** Column name -> DuckDB type over the union of the files' schemas. */
async function describeFiles(
  con: DuckDBConnection,
  paths: readonly string[],
  snapshot: DeltaSnapshot,
): Promise<Map<string, string>> {
  const list = paths.map(quoteLiteral).join(", ");
  try {
    const reader = await con.runAndReadAll(
      `DESCRIBE SELECT * FROM read_parquet([${list}], union_by_name = true, hive_partitioning = false)`,
    );
    return new Map(reader.getRows().map((r) => [String(r[0]), String(r[1])]));
  } catch (error) {
    throw new SluiceError(
      "LAKE_ERROR",
      `${describeTable(snapshot.table)} (version ${snapshot.version}): cannot read data files: ${firstLine((error as Error).message)}`,
      { cause: error },
    );
  }
}
