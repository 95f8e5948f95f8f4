import pg from "pg";
import type { CommitCoordinator } from "../lake/coordinated-log-storage.js";
import { withRetry } from "../resilience/retry.js";
import { pgError } from "./postgres-errors.js";
import { parsePostgresUrl } from "./postgres-url.js";

/** The commit-coordination table: one row per claimed lake log entry (Delta's lock table). */
const DDL = [
  "CREATE SCHEMA IF NOT EXISTS sluice",
  `CREATE TABLE IF NOT EXISTS sluice.lake_commits (
     log text NOT NULL, name text NOT NULL, temp_path text NOT NULL, complete boolean NOT NULL DEFAULT false,
     claimed_at timestamptz NOT NULL DEFAULT now(), PRIMARY KEY (log, name))`,
  "CREATE INDEX IF NOT EXISTS lake_commits_incomplete ON sluice.lake_commits (log) WHERE NOT complete",
];

/**
 * A {@link CommitCoordinator} on the warehouse's PostgreSQL database (table `sluice.lake_commits`,
 * created on first use). A claim is an INSERT ... ON CONFLICT DO NOTHING: atomic whatever the lake store
 * offers. The pool is small and lets the process exit when idle.
 *
 * @example
 * const lake = coordinatedLogStorage(s3Lake, postgresCommitCoordinator("postgres://db/warehouse"));
 */
export function postgresCommitCoordinator(url: string): CommitCoordinator {
  const target = parsePostgresUrl(url);
  let pool: pg.Pool | undefined;
  let ready: Promise<void> | undefined;
  const query = async (sql: string, values: unknown[] = []): Promise<pg.QueryResult> => {
    if (!pool) {
      pool = new pg.Pool({ ...target.config, max: 2, idleTimeoutMillis: 1000, allowExitOnIdle: true });
      // An idle connection the server closes (restart, dropped database) is replaced on next use.
      pool.on("error", () => undefined);
      // So does one held in a commit's transaction: its next statement fails (no unhandled error).
      pool.on("connect", (client) => client.on("error", () => undefined));
    }
    const p = pool;
    ready ??= (async () => {
      const client = await p.connect();
      try {
        await client.query("BEGIN");
        await client.query("SELECT pg_advisory_xact_lock(hashtext('sluice:catalog'))");
        for (const ddl of DDL) await client.query(ddl);
        await client.query("COMMIT");
      } catch (error) {
        await client.query("ROLLBACK").catch(() => undefined);
        throw error;
      } finally {
        client.release();
      }
    })().catch((error: unknown) => {
      ready = undefined;
      throw error;
    });
    return withRetry(
      async () => {
        try {
          await ready;
          return await p.query(sql, values);
        } catch (error) {
          throw pgError(error, target.label, target.secret, "lake commit coordination");
        }
      },
      // Long enough to ride out a server restart: a commit waits rather than fails.
      { max: 8, baseMs: 250, maxDelayMs: 4000, jitter: "equal" },
    );
  };
  return {
    async claim(log, name, tempPath) {
      // Returns the claim that stands: a retry after a lost answer finds its own row and still wins.
      const { rows } = await query(
        `WITH mine AS (INSERT INTO sluice.lake_commits (log, name, temp_path) VALUES ($1, $2, $3)
                         ON CONFLICT DO NOTHING RETURNING temp_path)
         SELECT temp_path FROM mine UNION ALL
         SELECT temp_path FROM sluice.lake_commits WHERE log = $1 AND name = $2`,
        [log, name, tempPath],
      );
      return (rows[0] as { temp_path: string } | undefined)?.temp_path === tempPath;
    },
    async find(log, name) {
      const { rows } = await query(
        "SELECT temp_path, complete FROM sluice.lake_commits WHERE log = $1 AND name = $2",
        [log, name],
      );
      const row = rows[0] as { temp_path: string; complete: boolean } | undefined;
      return row ? { tempPath: row.temp_path, complete: row.complete } : undefined;
    },
    async incomplete(log) {
      const { rows } = await query(
        "SELECT name, temp_path FROM sluice.lake_commits WHERE log = $1 AND NOT complete ORDER BY name",
        [log],
      );
      return rows.map((r: { name: string; temp_path: string }) => ({ name: r.name, tempPath: r.temp_path }));
    },
    async markComplete(log, name) {
      await query("UPDATE sluice.lake_commits SET complete = true WHERE log = $1 AND name = $2", [log, name]);
    },
  };
}
