import type { CanonicalType } from "./type-evolution.js";

/** The types of the catalog's columns (`sluice.runs`, `sluice.files`, ...), spelled per dialect. */
export type CatalogType = "text" | "bigint" | "timestamptz" | "json" | "text[]";

/** A column with its type as the database spells it. */
export interface TypedColumn {
  readonly name: string;
  readonly type: string;
}

/**
 * The statements of the warehouse health page. `tables` yields schema_name, table_name, rows, bytes
 * (NULL where unknown); each optional one is left out where the warehouse has no such thing.
 */
export interface HealthSql {
  readonly tables: string;
  /** The database file's size: `bytes`. */
  readonly databaseBytes?: string;
  /** Index use: schema_name, table_name, index_name, scans, bytes. */
  readonly indexes?: string;
  /** One row when slow-statement statistics are installed. */
  readonly slowStatementsInstalled?: string;
  /** The slowest statements: query, calls, mean_ms, total_ms. */
  readonly slowStatements?: string;
  /** Server connections by state: state, n. */
  readonly connections?: string;
}

/**
 * How one warehouse spells SQL: readonly data and pure functions, no connection. Code shared by the
 * warehouses asks the dialect (and the warehouse's capabilities) instead of comparing warehouse names;
 * each warehouse adapter holds one (see duckdb-dialect.ts, postgres-dialect.ts).
 */
export interface SqlDialect {
  /** The warehouse's name, for messages and reports only (never branch on it). */
  readonly name: "duckdb" | "postgres";
  /** The schema an unqualified table name lives in. */
  readonly defaultSchema: string;
  /**
   * Quoted target names spell out {@link defaultSchema} (PostgreSQL: the connection's search_path could
   * otherwise resolve an unqualified name elsewhere).
   */
  readonly qualifiesTables: boolean;
  /** Longest table or column name kept, in UTF-8 bytes (longer ones are cut short); undefined: no limit. */
  readonly maxIdentifierBytes: number | undefined;
  /**
   * How a `merge` is written (see plan/write-modes.ts): `classify` joins the batch to the target once,
   * saves and updates the changed rows by rowid and inserts the new ones; `upsert` is
   * `INSERT ... ON CONFLICT` over a unique index on the keys, else `MERGE`.
   */
  readonly merge: "classify" | "upsert";
  /** Catalog column types. */
  readonly catalogTypes: Readonly<Record<CatalogType, string>>;
  /** Catalog indexes are created (DuckDB: its indexes would slow every insert into the catalog). */
  readonly catalogIndexes: boolean;
  /**
   * The keys of a catalog JSON column's object as a list of text, in the order its text is read back in
   * (DuckDB keeps the JSON text as written; PostgreSQL's jsonb its own order); NULL or empty for none.
   */
  catalogJsonKeys(column: string): string;
  /**
   * An auto-numbered catalog column: its definition, and statements that must run before the table
   * is created (a sequence). `sequence` names the sequence where the dialect needs one.
   */
  serialColumn(
    column: string,
    sequence: string,
  ): { readonly column: string; readonly before: readonly string[] };
  /** The column type a new column gets for an incoming engine (DuckDB) type. */
  columnType(engineType: string): string;
  /** The DDL spelling of a type (a widened column's new type). */
  ddlType(type: string | CanonicalType): string;
  /** `ALTER TABLE ... ALTER COLUMN ... TYPE ...` (converting the stored values where the dialect needs it said). */
  alterColumnTypeSql(table: string, column: string, type: string): string;
  /**
   * Statements creating a target table for a write mode: the table, and the key index the mode's
   * statements use where the dialect has one (a merge/cdc primary key, an scd2 index on current rows).
   */
  createTableSql(
    table: string,
    columns: readonly TypedColumn[],
    target: { readonly mode: string; readonly keys: readonly string[] },
  ): string[];
  /** Statements run once after an undo (before-image) table is created. */
  undoIndexSql(undo: string): string[];
  /**
   * An index for deletes by one column (a child table's `_sluice_root_id`, see child-tables.ts):
   * `existsSql` returns a row when a valid index of the table leads with the column, `createSql` makes
   * one. Undefined where an index costs more than it saves.
   */
  readonly linkIndex:
    | {
        existsSql(schema: string, name: string, column: string): string;
        createSql(table: string, column: string): string;
      }
    | undefined;
  /** Columns (`name`, `type`) of a table in catalog order; no rows when it does not exist. */
  tableColumnsSql(schema: string, name: string): string;
  /**
   * Unique indexes of a table with exactly `keyCount` key columns that a merge can target (`cols`: their
   * column names); undefined where merges do not use unique indexes.
   */
  readonly uniqueIndexesSql: ((schema: string, name: string, keyCount: number) => string) | undefined;
  /**
   * A table's bytes on disk (`bytes`) and, where the warehouse keeps one, its planner's row estimate
   * (`estimate`, null when unknown): read from metadata, without scanning the rows.
   */
  tableSizeSql(schema: string, name: string): string;
  /** Whether freshly written rows reach the file (and have a size) only at a checkpoint. */
  readonly sizeAfterCheckpoint: boolean;
  /** What the health page asks of the warehouse. */
  readonly healthSql: HealthSql;
}
