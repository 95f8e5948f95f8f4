import type pg from "pg";
import type PgBoss from "pg-boss";
import { SluiceError } from "../errors.js";
import { redactUrls } from "../redact.js";
import { isTransientPgError } from "../warehouse/postgres-errors.js";
import { parsePostgresUrl } from "../warehouse/postgres-url.js";

/** The PostgreSQL schema the queue (pg-boss) and the workers registry live in, beside the catalog. */
export const QUEUE_SCHEMA = "sluice_queue";
/** Queue of discovery: one job per interval cluster-wide lists the landing zone. */
export const DISCOVER_QUEUE = "sluice-discover";
/** Queue of units of work: one file, or a group of small files, of one pipeline. */
export const FILES_QUEUE = "sluice-files";

/** A unit of work: files of one pipeline run together (like `sluice run --file ... --file ...`). */
export interface FileUnit {
  readonly pipeline: string;
  readonly files: readonly string[];
  readonly bytes: number;
  /** `pipeline|path|size|mtime` per file: a file that changes is new work. */
  readonly keys: readonly string[];
}

/** An opened queue: pg-boss for jobs, a small pool for Sluice's own statements in the same database. */
export interface WorkQueue {
  readonly boss: PgBoss;
  readonly pool: pg.Pool;
  /** Password-free `user@host:port/db`, for messages. */
  readonly label: string;
  /** An error's message without the database password or any URL's credentials: for notices and job records. */
  messageOf(error: unknown): string;
  close(): Promise<void>;
}

/** How {@link openWorkQueue} sets the queue up. */
export interface WorkQueueOptions {
  /** A claimed job not extended by its worker's heartbeat for this long goes back to the queue (s). */
  readonly leaseSeconds: number;
  /** Whether this process runs pg-boss's maintenance (expiring leases); workers do, readers do not. */
  readonly supervise: boolean;
  /** Units run at once: each may hold a connection (claiming a unit) beside the heartbeat's. */
  readonly concurrency: number;
}

const WORKERS_DDL = `CREATE TABLE IF NOT EXISTS ${QUEUE_SCHEMA}.workers (
  worker_id text PRIMARY KEY, host text NOT NULL, pid integer NOT NULL, concurrency integer NOT NULL,
  started_at timestamptz NOT NULL DEFAULT now(), heartbeat_at timestamptz NOT NULL DEFAULT now(),
  state text NOT NULL DEFAULT 'running', claims jsonb NOT NULL DEFAULT '[]',
  units bigint NOT NULL DEFAULT 0, files bigint NOT NULL DEFAULT 0, bytes bigint NOT NULL DEFAULT 0,
  rows_loaded bigint NOT NULL DEFAULT 0, busy_ms bigint NOT NULL DEFAULT 0)`;

/**
 * Opens the job queue on the warehouse's PostgreSQL database (schema `sluice_queue`, created or migrated
 * by pg-boss on first use). pg and pg-boss are loaded here, on first use.
 *
 * @example
 * const queue = await openWorkQueue("postgres://db/warehouse", { leaseSeconds: 30, supervise: true, concurrency: 2 });
 */
export async function openWorkQueue(url: string, options: WorkQueueOptions): Promise<WorkQueue> {
  const target = parsePostgresUrl(url);
  const [{ default: PgBossClass }, { default: pgModule }] = await Promise.all([
    import("pg-boss"),
    import("pg"),
  ]);
  const pool = new pgModule.Pool({ ...target.config, max: options.concurrency + 3 });
  pool.on("error", () => undefined); // an idle connection the server closed is replaced on next use
  // A connection held between statements (discovery's lock while it lists the landing zone) that the
  // server closes (a restart) would otherwise raise an unhandled error and end the process; its next
  // statement fails instead, and the worker retries.
  pool.on("connect", (client) => client.on("error", () => undefined));
  const boss = new PgBossClass({
    ...(target.config as PgBoss.DatabaseOptions),
    max: 4,
    schema: QUEUE_SCHEMA,
    supervise: options.supervise,
    schedule: false,
    maintenanceIntervalSeconds: Math.max(1, Math.floor(options.leaseSeconds / 3)),
  });
  boss.on("error", () => undefined); // maintenance errors (a restarting server) are retried by pg-boss
  try {
    // Workers starting together would race pg-boss's schema and partition creation (deadlocks): one
    // sets up at a time, the others find it done.
    const setup = await pool.connect();
    try {
      await setup.query("SELECT pg_advisory_lock(hashtext('sluice:queue:setup'))");
      await boss.start();
      for (const name of [DISCOVER_QUEUE, FILES_QUEUE]) {
        const settings = {
          name,
          policy: "standard" as const,
          expireInSeconds: options.leaseSeconds,
          // A failing unit is retried a few times with backoff; its files, still in the landing zone,
          // are queued again by a later discovery.
          retryLimit: 5,
          retryDelay: 2,
          retryBackoff: true,
        };
        const existing = await boss.getQueue(name);
        if (!existing) await boss.createQueue(name, settings);
        // The lease is the cluster's: the worker started last with a different --lease sets it.
        else if (options.supervise && existing.expireInSeconds !== options.leaseSeconds)
          await boss.updateQueue(name, settings);
      }
      await setup.query(WORKERS_DDL);
    } finally {
      await setup.query("SELECT pg_advisory_unlock(hashtext('sluice:queue:setup'))").catch(() => undefined);
      setup.release();
    }
  } catch (error) {
    await boss.stop({ graceful: false, wait: true }).catch(() => undefined);
    await pool.end().catch(() => undefined);
    throw new SluiceError(
      "WAREHOUSE_ERROR",
      `PostgreSQL ${target.label}: cannot open the work queue: ${safeMessage(error, target.secret)}`,
      // Transient only when the cause is (the server starting, at its connection limit): a worker retries
      // those, and fails at once on a wrong password or a missing database.
      { transient: isTransientPgError(error), cause: error },
    );
  }
  return {
    boss,
    pool,
    label: target.label,
    messageOf: (error) => safeMessage(error, target.secret),
    async close() {
      await boss.stop({ graceful: false, wait: true }).catch(() => undefined);
      await pool.end().catch(() => undefined);
    },
  };
}

/** `error`'s message with `secret` and URL credentials masked. Pure. */
export function safeMessage(error: unknown, secret: string | undefined): string {
  const message = error instanceof Error ? error.message : String(error);
  return redactUrls(secret ? message.split(secret).join("***") : message);
}

/**
 * Extends the leases of `jobIds` (pg-boss 10 expires an active job `expire_in` after `started_on`; moving
 * `started_on` is the heartbeat). A job whose worker stops beating expires and is retried elsewhere.
 *
 * @example
 * await extendLeases(queue.pool, ["5b0c…"]);
 */
export async function extendLeases(pool: pg.Pool, jobIds: readonly string[]): Promise<void> {
  if (jobIds.length === 0) return;
  await pool.query(
    `UPDATE ${QUEUE_SCHEMA}.job SET started_on = now() WHERE id = ANY($1::uuid[]) AND state = 'active'`,
    [jobIds],
  );
}

/** Keys of files queued or being worked on (not yet done), so discovery does not queue them twice. */
export async function openFileKeys(pool: pg.Pool): Promise<Set<string>> {
  const { rows } = await pool.query(
    `SELECT jsonb_array_elements_text(data->'keys') AS key FROM ${QUEUE_SCHEMA}.job
      WHERE name = $1 AND state IN ('created', 'retry', 'active')`,
    [FILES_QUEUE],
  );
  return new Set(rows.map((r: { key: string }) => r.key));
}

/** Jobs not yet done in either queue (idle workers wait for these); units of `pipelines` only when given. */
export async function openJobCount(pool: pg.Pool, pipelines?: readonly string[]): Promise<number> {
  const { rows } = await pool.query(
    `SELECT count(*)::int AS n FROM ${QUEUE_SCHEMA}.job WHERE state IN ('created', 'retry', 'active')
      AND (name = $1 OR (name = $2 AND ($3::text[] IS NULL OR data->>'pipeline' = ANY($3))))`,
    [DISCOVER_QUEUE, FILES_QUEUE, pipelines ?? null],
  );
  return Number(rows[0]?.n ?? 0);
}

/**
 * Claims the next queued unit of one of `pipelines` (`sluice worker --pipeline`): pg-boss 10's own fetch
 * of a standard-policy queue (same order, same retry count), narrowed by the unit's pipeline, which
 * pg-boss's fetch cannot do. Undefined when none is due.
 *
 * @example
 * const job = await claimUnitOf(queue.pool, ["orders"]);
 */
export async function claimUnitOf(
  pool: pg.Pool,
  pipelines: readonly string[],
): Promise<{ id: string; data: FileUnit } | undefined> {
  const { rows } = await pool.query(
    `WITH next AS (
       SELECT id FROM ${QUEUE_SCHEMA}.job
        WHERE name = $1 AND state < 'active' AND start_after < now() AND data->>'pipeline' = ANY($2)
        ORDER BY priority DESC, created_on, id LIMIT 1 FOR UPDATE SKIP LOCKED)
     UPDATE ${QUEUE_SCHEMA}.job j SET state = 'active', started_on = now(),
       retry_count = CASE WHEN started_on IS NOT NULL THEN retry_count + 1 ELSE retry_count END
     FROM next WHERE j.name = $1 AND j.id = next.id RETURNING j.id, j.data`,
    [FILES_QUEUE, pipelines],
  );
  return rows[0] as { id: string; data: FileUnit } | undefined;
}
