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
  readonly connections?: { state: string; count: number; waiting: number; longest_ms: number }[];
  readonly pool?: PoolStats | null;
  /** DuckDB: the file's size. */
  readonly database_bytes?: number | null;
}

/**
 * Table sizes (every warehouse), and what else the warehouse's dialect can ask: on PostgreSQL index
 * usage, slow statements where pg_stat_statements is installed, connections by state and the pool's use.
 *
 * @example
 * const health = await warehouseHealth(reader, warehouse.poolStats?.());
 */
export async function warehouseHealth(reader: CatalogReader, pool?: PoolStats): Promise<WarehouseHealth> {
  const sql = reader.dialect.healthSql;
  const tables = (await reader.query(sql.tables)).map((t) => ({
    schema: String(t.schema_name),
    table: String(t.table_name),
    rows: Number(t.rows ?? 0),
    bytes: t.bytes === null || t.bytes === undefined ? null : Number(t.bytes),
  }));
  const health: { -readonly [K in keyof WarehouseHealth]: WarehouseHealth[K] } = {
    kind: reader.dialect.name,
    tables,
  };
  if (sql.databaseBytes) {
    const size = await reader.query(sql.databaseBytes).catch(() => []);
    health.database_bytes = size[0] ? Number(size[0].bytes) : null;
  }
  if (sql.indexes) {
    health.indexes = (await reader.query(sql.indexes)).map((i) => ({
      schema: String(i.schema_name),
      table: String(i.table_name),
      index: String(i.index_name),
      scans: Number(i.scans ?? 0),
      bytes: Number(i.bytes ?? 0),
    }));
  }
  if (sql.slowStatements) {
    const installed =
      !sql.slowStatementsInstalled || (await reader.query(sql.slowStatementsInstalled)).length > 0;
    const slow = installed ? await reader.query(sql.slowStatements).catch(() => null) : null;
    health.slow_statements =
      slow?.map((s) => ({
        query: String(s.query),
        calls: Number(s.calls),
        mean_ms: Number(s.mean_ms),
        total_ms: Number(s.total_ms),
      })) ?? null;
  }
  if (sql.connections) {
    const connections = await reader.query(sql.connections);
    health.connections = connections.map((c) => ({
      state: String(c.state),
      count: Number(c.n),
      // Waiting on a lock or I/O right now, and the longest time one of them has been in this state.
      waiting: Number(c.waiting ?? 0),
      longest_ms: Math.round(Number(c.longest_ms ?? 0)),
    }));
    health.pool = pool ?? null;
  }
  return health;
}
