import type { SqlDialect } from "./sql-dialect.js";
import { quoteIdent, quoteLiteral } from "./sql-text.js";
import { duckdbDdlType } from "./type-evolution.js";

/**
 * DuckDB's SQL (the embedded warehouse). Incoming columns keep the engine's own types; merges classify
 * the batch against the target once, then update changed rows by rowid; no identifier limit; no indexes (each would slow every insert).
 *
 * @example
 * duckdbDialect.createTableSql('"orders"', [{ name: "id", type: "BIGINT" }], { mode: "merge", keys: ["id"] })
 * // ['CREATE TABLE "orders" ("id" BIGINT)']
 */
export const duckdbDialect: SqlDialect = Object.freeze({
  name: "duckdb",
  defaultSchema: "main",
  qualifiesTables: false,
  maxIdentifierBytes: undefined,
  merge: "classify",
  catalogTypes: Object.freeze({
    text: "VARCHAR",
    bigint: "BIGINT",
    timestamptz: "TIMESTAMPTZ",
    json: "JSON",
    "text[]": "VARCHAR[]",
  }),
  catalogIndexes: false,
  catalogJsonKeys: (column: string) => `json_keys(${column})`,
  serialColumn: (column: string, sequence: string) => ({
    column: `${column} BIGINT NOT NULL DEFAULT nextval('${sequence}')`,
    before: [`CREATE SEQUENCE IF NOT EXISTS ${sequence}`],
  }),
  columnType: (engineType: string) => engineType,
  ddlType: duckdbDdlType,
  alterColumnTypeSql: (table: string, column: string, type: string) =>
    `ALTER TABLE ${table} ALTER COLUMN ${quoteIdent(column)} TYPE ${type}`,
  createTableSql: (table: string, columns: readonly { name: string; type: string }[]) => [
    `CREATE TABLE ${table} (${columns.map((c) => `${quoteIdent(c.name)} ${c.type}`).join(", ")})`,
  ],
  undoIndexSql: () => [],
  // An ART index on a child table's link column doubled the CPU of appending 2M child rows and made a
  // delete of 60k of them by parent key slower, not faster (the delete is a hash join either way).
  linkIndex: undefined,
  tableColumnsSql: (schema: string, name: string) =>
    `SELECT column_name AS name, data_type AS type FROM duckdb_columns() WHERE schema_name = ${quoteLiteral(schema)} AND table_name = ${quoteLiteral(name)} AND NOT internal ORDER BY column_index`,
  uniqueIndexesSql: undefined,
  // The blocks holding the table's columns; null while any of its rows are only in the write-ahead log.
  tableSizeSql: (schema: string, name: string) =>
    `SELECT NULL AS estimate, CASE WHEN bool_and(persistent) THEN count(DISTINCT block_id) * (SELECT max(block_size) FROM pragma_database_size()) END AS bytes FROM pragma_storage_info(${quoteLiteral(`${schema}.${name}`)})`,
  sizeAfterCheckpoint: true,
  healthSql: Object.freeze({
    tables:
      "SELECT schema_name, table_name, estimated_size AS rows, NULL AS bytes FROM duckdb_tables() WHERE NOT temporary ORDER BY schema_name, table_name",
    databaseBytes: "SELECT total_blocks * block_size AS bytes FROM pragma_database_size()",
  }),
});
