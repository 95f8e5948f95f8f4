import { postgresIdentifierLimit } from "./postgres-identifier-limit.js";
import type { SqlDialect, TypedColumn } from "./sql-dialect.js";
import { quoteIdent, quoteLiteral } from "./sql-text.js";
import { postgresDdlType } from "./type-evolution.js";

/**
 * PostgreSQL's SQL. Incoming DuckDB types map to PostgreSQL's; target names always carry their schema;
 * merges upsert over a unique index on the keys (a table Sluice creates for merge or cdc gets a primary
 * key on them); identifiers hold 63 bytes.
 *
 * @example
 * postgresDialect.createTableSql('"public"."orders"', [{ name: "id", type: "bigint" }], { mode: "merge", keys: ["id"] })
 * // ['CREATE TABLE "public"."orders" ("id" bigint, PRIMARY KEY ("id"))']
 */
export const postgresDialect: SqlDialect = Object.freeze({
  name: "postgres",
  defaultSchema: "public",
  qualifiesTables: true,
  maxIdentifierBytes: postgresIdentifierLimit,
  merge: "upsert",
  catalogTypes: Object.freeze({
    text: "text",
    bigint: "bigint",
    timestamptz: "timestamptz",
    json: "jsonb",
    "text[]": "text[]",
  }),
  catalogIndexes: true,
  catalogJsonKeys: (column: string) => `ARRAY(SELECT jsonb_object_keys(${column}))`,
  serialColumn: (column: string) => ({ column: `${column} BIGSERIAL`, before: [] }),
  columnType: (engineType: string) => postgresDdlType(engineType),
  ddlType: postgresDdlType,
  alterColumnTypeSql: (table: string, column: string, type: string) =>
    `ALTER TABLE ${table} ALTER COLUMN ${quoteIdent(column)} TYPE ${type} USING ${quoteIdent(column)}::${type}`,
  createTableSql,
  // Rows of one run are written together and run ids grow with time, so a BRIN index (one summary per
  // 128 pages) finds a run's before-images almost as well as a B-tree, at none of its cost per saved row.
  // Ranges not yet summarized by autovacuum are simply scanned.
  undoIndexSql: (undo: string) => [
    `CREATE INDEX ON ${undo} USING brin (_sluice_undo_run) WITH (autosummarize = on)`,
  ],
  // A B-tree, so a merge deletes the children of its parents by index instead of scanning the table.
  linkIndex: Object.freeze({
    existsSql: (schema: string, name: string, column: string) =>
      `SELECT 1 AS hit FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid JOIN pg_namespace n ON n.oid = c.relnamespace JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0] WHERE n.nspname = ${quoteLiteral(schema)} AND c.relname = ${quoteLiteral(name)} AND a.attname = ${quoteLiteral(column)} AND i.indisvalid`,
    createSql: (table: string, column: string) => `CREATE INDEX ON ${table} (${quoteIdent(column)})`,
  }),
  tableColumnsSql: (schema: string, name: string) =>
    `SELECT a.attname AS name, format_type(a.atttypid, a.atttypmod) AS type FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = ${quoteLiteral(schema)} AND c.relname = ${quoteLiteral(name)} AND c.relkind IN ('r', 'p') AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum`,
  // Valid, immediate, non-partial unique indexes on plain columns: the ones ON CONFLICT can use.
  uniqueIndexesSql: (schema: string, name: string, keyCount: number) =>
    `SELECT (SELECT array_agg(a.attname::text ORDER BY a.attname::text) FROM pg_attribute a WHERE a.attrelid = i.indrelid AND a.attnum = ANY (i.indkey)) AS cols FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = ${quoteLiteral(schema)} AND c.relname = ${quoteLiteral(name)} AND i.indisunique AND i.indisvalid AND i.indimmediate AND i.indpred IS NULL AND i.indexprs IS NULL AND i.indnkeyatts = ${Math.trunc(keyCount)}`,
  // reltuples is -1 until the table is first analyzed.
  tableSizeSql: (schema: string, name: string) =>
    `SELECT CASE WHEN c.reltuples >= 0 THEN c.reltuples::bigint END AS estimate, pg_total_relation_size(c.oid) AS bytes FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = ${quoteLiteral(schema)} AND c.relname = ${quoteLiteral(name)}`,
  sizeAfterCheckpoint: false,
  healthSql: Object.freeze({
    tables:
      "SELECT schemaname AS schema_name, relname AS table_name, n_live_tup AS rows, pg_total_relation_size(relid) AS bytes FROM pg_stat_user_tables ORDER BY schemaname, relname",
    indexes:
      "SELECT schemaname AS schema_name, relname AS table_name, indexrelname AS index_name, idx_scan AS scans, pg_relation_size(indexrelid) AS bytes FROM pg_stat_user_indexes ORDER BY idx_scan DESC, indexrelname",
    slowStatementsInstalled: "SELECT 1 AS hit FROM pg_extension WHERE extname = 'pg_stat_statements'",
    slowStatements:
      "SELECT query, calls, mean_exec_time AS mean_ms, total_exec_time AS total_ms FROM pg_stat_statements WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database()) ORDER BY mean_exec_time DESC LIMIT 10",
    connections:
      "SELECT coalesce(state, 'unknown') AS state, count(*) AS n, count(*) FILTER (WHERE wait_event_type IN ('Lock', 'LWLock', 'BufferPin', 'IO', 'IPC')) AS waiting, coalesce(max(extract(epoch FROM now() - state_change)) * 1000, 0) AS longest_ms FROM pg_stat_activity WHERE datname = current_database() GROUP BY 1 ORDER BY 1",
  }),
});

/** A target table; merge and cdc tables get a primary key on their keys, scd2 ones an index on current rows. */
function createTableSql(
  table: string,
  columns: readonly TypedColumn[],
  target: { readonly mode: string; readonly keys: readonly string[] },
): string[] {
  const keys = target.keys.map(quoteIdent).join(", ");
  const keyed = target.keys.length > 0;
  const primary =
    keyed && (target.mode === "merge" || target.mode === "cdc") ? `, PRIMARY KEY (${keys})` : "";
  return [
    `CREATE TABLE ${table} (${columns.map((c) => `${quoteIdent(c.name)} ${c.type}`).join(", ")}${primary})`,
    ...(keyed && target.mode === "scd2" ? [`CREATE INDEX ON ${table} (${keys}) WHERE is_current`] : []),
  ];
}
