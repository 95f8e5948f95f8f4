import type { CatalogReader, PoolStats } from "../warehouse/warehouse.js";

/** The warehouse health page's data. */
export interface WarehouseHealth {
  readonly kind: "duckdb" | "postgres";
  readonly tables: { schema: string; table: string; rows: number; bytes: number | null }[];
  /** PostgreSQL only: how often each index was used. */
  readonly indexes?: { schema: string; table: string; index: string; scans: number; bytes: number }[];
  /** PostgreSQL with pg_stat_statements: the slowest statements by mean time. */
  readonly slow_statements?: { query: string; calls: number; mean_ms: number; total_ms: number }[] | null;
  /** PostgreSQL: server connections of this database by state, and the dashboard's own pool. */
  readonly connections?: { state: string; count: number }[];
  readonly pool?: PoolStats | null;
  /** DuckDB: the file's size. */
  readonly database_bytes?: number | null;
}

/**
 * Table sizes (both warehouses); on PostgreSQL also index usage, slow statements where the
 * pg_stat_statements extension is installed, connections by state and the pool's use.
 *
 * @example
 * const health = await warehouseHealth(reader, warehouse.poolStats?.());
 */
export async function warehouseHealth(reader: CatalogReader, pool?: PoolStats): Promise<WarehouseHealth> {
  if (reader.kind === "duckdb") {
    const tables = await reader.query(
      "SELECT schema_name, table_name, estimated_size FROM duckdb_tables() WHERE NOT temporary ORDER BY schema_name, table_name",
    );
    const size = await reader
      .query("SELECT total_blocks * block_size AS bytes FROM pragma_database_size()")
      .catch(() => []);
    return {
      kind: "duckdb",
      tables: tables.map((t) => ({
        schema: String(t.schema_name),
        table: String(t.table_name),
        rows: Number(t.estimated_size ?? 0),
        bytes: null,
      })),
      database_bytes: size[0] ? Number(size[0].bytes) : null,
    };
  }
  const tables = await reader.query(
    "SELECT schemaname, relname, n_live_tup, pg_total_relation_size(relid) AS bytes FROM pg_stat_user_tables ORDER BY schemaname, relname",
  );
  const indexes = await reader.query(
    "SELECT schemaname, relname, indexrelname, idx_scan, pg_relation_size(indexrelid) AS bytes FROM pg_stat_user_indexes ORDER BY idx_scan DESC, indexrelname",
  );
  const hasStatements =
    (await reader.query("SELECT 1 AS hit FROM pg_extension WHERE extname = 'pg_stat_statements'")).length > 0;
  const slow = hasStatements
    ? await reader
        .query(
          "SELECT query, calls, mean_exec_time, total_exec_time FROM pg_stat_statements WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database()) ORDER BY mean_exec_time DESC LIMIT 10",
        )
        .catch(() => null)
    : null;
  const connections = await reader.query(
    "SELECT coalesce(state, 'unknown') AS state, count(*) AS n FROM pg_stat_activity WHERE datname = current_database() GROUP BY 1 ORDER BY 1",
  );
  return {
    kind: "postgres",
    tables: tables.map((t) => ({
      schema: String(t.schemaname),
      table: String(t.relname),
      rows: Number(t.n_live_tup ?? 0),
      bytes: Number(t.bytes ?? 0),
    })),
    indexes: indexes.map((i) => ({
      schema: String(i.schemaname),
      table: String(i.relname),
      index: String(i.indexrelname),
      scans: Number(i.idx_scan ?? 0),
      bytes: Number(i.bytes ?? 0),
    })),
    slow_statements:
      slow?.map((s) => ({
        query: String(s.query),
        calls: Number(s.calls),
        mean_ms: Number(s.mean_exec_time),
        total_ms: Number(s.total_exec_time),
      })) ?? null,
    connections: connections.map((c) => ({ state: String(c.state), count: Number(c.n) })),
    pool: pool ?? null,
  };
}
