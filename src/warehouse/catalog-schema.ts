import type { CatalogType, SqlDialect } from "../plan/sql-dialect.js";
import { quoteIdent } from "../plan/sql-text.js";

/** One column of a catalog table. */
export interface CatalogColumn {
  readonly name: string;
  readonly type: CatalogType;
  /** NOT NULL unless true. */
  readonly nullable?: true;
  readonly primaryKey?: true;
  /** Filled with the time of the insert when not given. */
  readonly defaultNow?: true;
  /** Numbered by the database in insert order; names the sequence where the dialect needs one. */
  readonly serial?: string;
}

/** An index of a catalog table (created where the dialect keeps catalog indexes). */
export interface CatalogIndex {
  readonly name: string;
  readonly columns: readonly string[];
  readonly unique?: true;
  /** A partial index's condition. */
  readonly where?: string;
}

/** One table of the catalog (schema `sluice`). */
export interface CatalogTable {
  readonly name: string;
  readonly columns: readonly CatalogColumn[];
  readonly indexes?: readonly CatalogIndex[];
  /** A primary key over several columns (one column's is set on the column). */
  readonly primaryKey?: readonly string[];
}

const text = (name: string): CatalogColumn => ({ name, type: "text" });
const optionalText = (name: string): CatalogColumn => ({ name, type: "text", nullable: true });
const bigint = (name: string): CatalogColumn => ({ name, type: "bigint" });
const count = (name: string): CatalogColumn => ({ name, type: "bigint", nullable: true });
const time = (name: string): CatalogColumn => ({ name, type: "timestamptz" });

/**
 * The catalog Sluice keeps in every warehouse, as data: each warehouse's DDL is generated from it
 * ({@link catalogDdl}). Columns are only ever added at the end (existing catalogs are created with
 * `IF NOT EXISTS` and keep theirs).
 */
export const catalogTables: readonly CatalogTable[] = [
  {
    name: "runs",
    columns: [
      { name: "run_id", type: "text", primaryKey: true },
      text("pipeline"),
      bigint("seq"),
      text("status"),
      time("started_at"),
      time("finished_at"),
      count("rows_read"),
      count("rows_loaded"),
      count("rows_quarantined"),
      count("rows_malformed"),
      count("rows_duplicates"),
      optionalText("error"),
      { name: "report", type: "json" },
    ],
    indexes: [
      { name: "runs_pipeline", columns: ["pipeline", "started_at"] },
      // The dashboard's newest-first pages of runs read these in order.
      { name: "runs_started", columns: ["started_at", "run_id"] },
    ],
  },
  {
    // The ledger: one row per file a run saw.
    name: "files",
    columns: [
      text("run_id"),
      text("pipeline"),
      text("path"),
      text("sha256"),
      bigint("size"),
      text("status"),
      count("rows_read"),
      count("rows_loaded"),
      optionalText("archived_to"),
      optionalText("error"),
      time("received_at"),
    ],
    indexes: [
      { name: "files_sha", columns: ["pipeline", "sha256"] },
      // A second load of the same content by the same pipeline is impossible, whatever the number of
      // concurrent processes.
      {
        name: "files_loaded_once",
        columns: ["pipeline", "sha256"],
        unique: true,
        where: "status = 'loaded'",
      },
      // Content can only repeat a loaded file of the same size: the lookup that decides whether a file
      // is hashed before it is read.
      { name: "files_loaded_size", columns: ["pipeline", "size"], where: "status = 'loaded'" },
    ],
  },
  {
    name: "quarantine",
    columns: [
      text("run_id"),
      text("pipeline"),
      optionalText("file"),
      count("line"),
      { name: "rules", type: "text[]" },
      { name: "reasons", type: "text[]" },
      { name: "values", type: "json", nullable: true },
      optionalText("raw"),
      { name: "quarantined_at", type: "timestamptz", defaultNow: true },
    ],
    indexes: [
      { name: "quarantine_pipeline", columns: ["pipeline", "run_id"] },
      // The dashboard's newest-first pages of quarantined rows.
      { name: "quarantine_newest", columns: ["pipeline", "quarantined_at", "run_id"] },
    ],
  },
  {
    // Quarantined rows counted per run as they are written (in the same transaction): the dashboard's
    // quarantine pages and /metrics read these instead of counting a quarantine of millions of rows.
    name: "quarantine_runs",
    columns: [text("pipeline"), text("run_id"), time("quarantined_at"), bigint("rows_quarantined")],
    indexes: [{ name: "quarantine_runs_newest", columns: ["pipeline", "quarantined_at", "run_id"] }],
  },
  {
    // Runs summed per pipeline, status and duration bucket as they are recorded (in the same transaction):
    // `/metrics` and the dashboard's pipeline lists read these few rows instead of scanning every run.
    name: "run_totals",
    columns: [
      text("pipeline"),
      text("status"),
      bigint("bucket"),
      bigint("runs"),
      bigint("rows_read"),
      bigint("rows_loaded"),
      bigint("rows_quarantined"),
      bigint("rows_malformed"),
      bigint("rows_duplicates"),
      bigint("duration_us"),
      time("last_finished_at"),
    ],
    primaryKey: ["pipeline", "status", "bucket"],
  },
  {
    name: "checks",
    columns: [text("run_id"), text("pipeline"), text("name"), text("severity"), bigint("failed")],
  },
  {
    // One row per load of a table (what `sluice history` lists; see LoadRecord).
    name: "loads",
    columns: [
      { name: "seq", type: "bigint", serial: "sluice.load_seq" },
      text("run_id"),
      text("pipeline"),
      text("table_name"),
      text("mode"),
      bigint("inserted"),
      bigint("updated"),
      bigint("deleted"),
      bigint("saved"),
      time("loaded_at"),
      optionalText("rolled_back_by"),
      { name: "reconciliation", type: "json", nullable: true },
    ],
    indexes: [{ name: "loads_table", columns: ["table_name", "seq"] }],
  },
  {
    name: "watermarks",
    columns: [text("pipeline"), text("run_id"), text("cursor_column"), text("value"), time("set_at")],
  },
  {
    // Stream positions (NATS stream sequences, Redis entry ids) of each stream batch, by the batch's ledger
    // path: published once that path has a `loaded` row in `files` (see stream-positions-sql.ts).
    name: "stream_positions",
    columns: [
      text("pipeline"),
      text("position"),
      text("batch"),
      { name: "recorded_at", type: "timestamptz", defaultNow: true },
    ],
    indexes: [{ name: "stream_positions_at", columns: ["pipeline", "position"] }],
  },
  {
    // Written by earlier builds (stream_claims since): each published stream position, claimed in the
    // transaction that published its batch. Its rows are moved into stream_claims when a catalog is opened.
    name: "stream_published",
    columns: [
      text("pipeline"),
      text("position"),
      text("batch"),
      { name: "published_at", type: "timestamptz", defaultNow: true },
    ],
    primaryKey: ["pipeline", "position"],
  },
  {
    // Published stream positions as ranges (see position-ranges.ts), claimed in the transaction that
    // publishes their batch, which refuses a range overlapping one claimed before: a position is published
    // once per pipeline, even by workers sharing one consumer (see stream-positions-sql.ts). The keys order
    // positions as numbers (claimKey). Earlier builds wrote stream_published, moved here at open.
    name: "stream_claims",
    columns: [
      text("pipeline"),
      text("first_key"),
      text("last_key"),
      text("first_position"),
      text("last_position"),
      text("batch"),
      { name: "published_at", type: "timestamptz", defaultNow: true },
    ],
    primaryKey: ["pipeline", "last_key"],
  },
  {
    // Per stream pipeline, the position every position at or below which is published (the broker's
    // acknowledgement floor): stream_claims (and the tables of earlier builds) are pruned at or below it, and it
    // counts as published in their stead (see stream-floor-sql.ts).
    name: "stream_floors",
    columns: [
      { name: "pipeline", type: "text", primaryKey: true },
      text("position"),
      { name: "recorded_at", type: "timestamptz", defaultNow: true },
    ],
  },
  {
    // The last schedule time of each scheduled pipeline (see runner/schedule-state.ts).
    name: "schedules",
    columns: [{ name: "pipeline", type: "text", primaryKey: true }, time("last_fire"), time("recorded_at")],
  },
  {
    // The last run sequence taken per pipeline (PostgreSQL: concurrent runs of one pipeline).
    name: "run_sequences",
    columns: [{ name: "pipeline", type: "text", primaryKey: true }, bigint("seq")],
  },
];

/** A catalog column's definition in a dialect, and what must exist before its table. */
function columnDdl(
  column: CatalogColumn,
  dialect: SqlDialect,
): { column: string; before: readonly string[] } {
  const name = quoteIdent(column.name);
  if (column.serial) return dialect.serialColumn(name, column.serial);
  const type = dialect.catalogTypes[column.type];
  const constraint = column.primaryKey ? " PRIMARY KEY" : column.nullable ? "" : " NOT NULL";
  return { column: `${name} ${type}${constraint}${column.defaultNow ? " DEFAULT now()" : ""}`, before: [] };
}

/**
 * The statements creating the catalog in a dialect: schema `sluice`, then each table (`IF NOT EXISTS`:
 * an existing catalog is kept as it is) with its indexes where the dialect keeps them. Pure.
 *
 * @example
 * for (const sql of catalogDdl(duckdbDialect)) await con.run(sql);
 */
export function catalogDdl(dialect: SqlDialect, tables: readonly CatalogTable[] = catalogTables): string[] {
  const statements = ["CREATE SCHEMA IF NOT EXISTS sluice"];
  for (const table of tables) {
    const columns = table.columns.map((c) => columnDdl(c, dialect));
    const key = table.primaryKey ? [`PRIMARY KEY (${table.primaryKey.map(quoteIdent).join(", ")})`] : [];
    statements.push(
      ...columns.flatMap((c) => c.before),
      `CREATE TABLE IF NOT EXISTS sluice.${quoteIdent(table.name)} (${[...columns.map((c) => c.column), ...key].join(", ")})`,
    );
    if (!dialect.catalogIndexes) continue;
    for (const index of table.indexes ?? []) {
      statements.push(
        `CREATE ${index.unique ? "UNIQUE " : ""}INDEX IF NOT EXISTS ${quoteIdent(index.name)} ON sluice.${quoteIdent(table.name)} (${index.columns.map(quoteIdent).join(", ")})${index.where ? ` WHERE ${index.where}` : ""}`,
      );
    }
  }
  return statements;
}
