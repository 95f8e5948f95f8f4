import type pg from "pg";
import type { JsonRow } from "../engine/duckdb-query.js";
import { postgresDialect } from "../plan/postgres-dialect.js";
import { quoteIdent } from "../plan/sql-text.js";
import type { BesideSession, SnapshotTransaction } from "./write-batch.js";

/**
 * Raises `work_mem` to 256 MB for the current transaction only (`SET LOCAL`, never lowered), so that
 * joins of a batch with its target hash in memory.
 */
export const raiseWorkMemSql =
  "SELECT set_config('work_mem', '256MB', true) FROM pg_settings WHERE name = 'work_mem' AND setting::bigint < 262144";

/**
 * A pooled connection when one can be had without waiting for another to be released (never for one
 * the publish itself may be holding, e.g. with `pool_max=1`); undefined otherwise.
 */
export async function idleClient(pool: pg.Pool): Promise<pg.PoolClient | undefined> {
  if (pool.idleCount === 0 && pool.totalCount >= (pool.options.max ?? 10)) return undefined;
  try {
    return await pool.connect();
  } catch {
    return undefined;
  }
}

/** A {@link BesideSession} on its own pooled connection, with the shared stage it owns. */
export interface PostgresBeside extends BesideSession {
  /**
   * Creates the batch's stage as a committed `UNLOGGED` table in schema `sluice` (both connections
   * read it; a temporary table is visible to one session only) and returns its quoted name and the
   * connection to fill it on. First drops stages whose owning connection is gone (a process that died).
   */
  createStage(columnsDdl: string): Promise<{ readonly table: string; readonly client: pg.PoolClient }>;
  /** Drops the stage and returns the connection to the pool. */
  close(): Promise<void>;
}

/**
 * The second connection of a publish, taken from the pool by {@link BesideSession.open} only when one is
 * free without waiting (so `pool_max=1` or a busy pool never deadlocks: the write runs alone). The stage is named after the backend
 * that owns it (`sluice.stage_<pid>`), so a later publish can tell a stage left by a killed process
 * (its backend no longer exists) from one in use.
 *
 * @example
 * const beside = postgresBeside(pool);
 * try { await writeBatch({ ..., beside }); } finally { await beside.close(); }
 */
export function postgresBeside(pool: pg.Pool): PostgresBeside {
  let client: pg.PoolClient | undefined;
  let broken: Error | undefined;
  let stage: string | undefined;
  const run = async (sql: string): Promise<pg.QueryResult> => {
    if (!client) throw new Error("the second connection is not open");
    try {
      return await client.query(sql);
    } catch (error) {
      broken = error as Error;
      throw error;
    }
  };
  return {
    async open() {
      // Without one (e.g. too many connections) the write runs as one statement instead.
      client ??= await idleClient(pool);
      return client !== undefined;
    },
    committed: {
      dialect: postgresDialect,
      async exec(sql) {
        return (await run(sql)).rowCount ?? 0;
      },
      async rows(sql) {
        return (await run(sql)).rows as JsonRow[];
      },
    },
    async snapshot(): Promise<SnapshotTransaction> {
      await run("BEGIN ISOLATION LEVEL REPEATABLE READ");
      // The first statement fixes the snapshot; the join of batch and target hashes in memory.
      await run(raiseWorkMemSql);
      return {
        async rows(sql) {
          return (await run(sql)).rows as JsonRow[];
        },
        async commit() {
          await run("COMMIT");
        },
        async rollback() {
          await run("ROLLBACK");
        },
      };
    },
    async createStage(columnsDdl) {
      // Stages left behind: their owning backend is gone, or is this one (a process that died held
      // the same pid before).
      const { rows } = await run(
        `SELECT pg_backend_pid() AS pid, ARRAY(SELECT c.relname::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'sluice' AND c.relkind = 'r' AND c.relname LIKE 'stage\\_%' AND (split_part(c.relname, '_', 2) = pg_backend_pid()::text OR NOT EXISTS (SELECT 1 FROM pg_stat_activity a WHERE a.pid::text = split_part(c.relname, '_', 2)))) AS stale`,
      );
      for (const name of (rows[0]?.stale as string[] | undefined) ?? []) {
        await run(`DROP TABLE IF EXISTS sluice.${quoteIdent(name)}`);
      }
      const table = `sluice.${quoteIdent(`stage_${rows[0]?.pid}`)}`;
      await run(`CREATE UNLOGGED TABLE ${table} (${columnsDdl})`);
      stage = table;
      return { table, client: client! };
    },
    async close() {
      if (!client) return;
      try {
        if (stage && !broken) await client.query(`DROP TABLE IF EXISTS ${stage}`);
      } catch (error) {
        broken = error as Error;
      } finally {
        client.release(broken);
        client = undefined;
        stage = undefined;
      }
    },
  };
}
