import type pg from "pg";
import { QUEUE_SCHEMA } from "./work-queue.js";

/** A unit a worker holds: shown by `sluice workers`, its lease extended by the worker's heartbeat. */
export interface WorkerClaim {
  readonly job: string;
  readonly pipeline: string;
  readonly files: readonly string[];
  readonly since: string;
}

/** One row of `sluice workers --json`. */
export interface WorkerStatus {
  readonly worker_id: string;
  readonly host: string;
  readonly pid: number;
  readonly concurrency: number;
  readonly started_at: string;
  readonly heartbeat_at: string;
  /** `running` (heartbeat within the lease), `lost` (no heartbeat for longer: killed or cut off), `stopped`. */
  readonly state: "running" | "lost" | "stopped";
  readonly claims: readonly WorkerClaim[];
  readonly units: number;
  readonly files: number;
  readonly bytes: number;
  readonly rows_loaded: number;
  /** Files per second since the worker started. */
  readonly files_per_second: number;
}

const iso = (value: unknown): string => (value instanceof Date ? value.toISOString() : String(value));

/**
 * The workers registry (`sluice_queue.workers`): one row per worker process, with its heartbeat, claims and
 * counters.
 *
 * @example
 * const registry = workerRegistry(queue.pool);
 * await registry.register({ workerId, host, pid: process.pid, concurrency: 2 });
 */
export function workerRegistry(pool: pg.Pool) {
  return {
    async register(worker: { workerId: string; host: string; pid: number; concurrency: number }) {
      await pool.query(
        `INSERT INTO ${QUEUE_SCHEMA}.workers (worker_id, host, pid, concurrency) VALUES ($1, $2, $3, $4)
         ON CONFLICT (worker_id) DO UPDATE SET host = $2, pid = $3, concurrency = $4, state = 'running',
           started_at = now(), heartbeat_at = now(), claims = '[]'`,
        [worker.workerId, worker.host, worker.pid, worker.concurrency],
      );
    },
    async heartbeat(workerId: string, claims: readonly WorkerClaim[]) {
      await pool.query(
        `UPDATE ${QUEUE_SCHEMA}.workers SET heartbeat_at = now(), claims = $2::jsonb, state = 'running' WHERE worker_id = $1`,
        [workerId, JSON.stringify(claims)],
      );
    },
    async recordUnit(workerId: string, done: { files: number; bytes: number; rows: number; ms: number }) {
      await pool.query(
        `UPDATE ${QUEUE_SCHEMA}.workers SET units = units + 1, files = files + $2, bytes = bytes + $3,
           rows_loaded = rows_loaded + $4, busy_ms = busy_ms + $5 WHERE worker_id = $1`,
        [workerId, done.files, done.bytes, done.rows, Math.round(done.ms)],
      );
    },
    async stop(workerId: string) {
      await pool.query(
        `UPDATE ${QUEUE_SCHEMA}.workers SET state = 'stopped', claims = '[]', heartbeat_at = now() WHERE worker_id = $1`,
        [workerId],
      );
    },
  };
}

/**
 * Every registered worker, newest heartbeat first; `state` is `lost` for one that stopped beating for
 * longer than `leaseSeconds` without saying goodbye. Workers stopped for over a day are left out.
 *
 * @example
 * const live = (await listWorkers(pool, 30)).filter((w) => w.state === "running");
 */
export async function listWorkers(pool: pg.Pool, leaseSeconds: number): Promise<WorkerStatus[]> {
  const { rows } = await pool.query(
    `SELECT *, extract(epoch FROM heartbeat_at - started_at) AS up, CASE WHEN state = 'running' AND heartbeat_at < now() - make_interval(secs => $1) THEN 'lost' ELSE state END AS shown
       FROM ${QUEUE_SCHEMA}.workers
      WHERE heartbeat_at > now() - interval '1 day'
      ORDER BY heartbeat_at DESC, worker_id`,
    [leaseSeconds],
  );
  return rows.map((r: Record<string, unknown>) => {
    const files = Number(r.files);
    const up = Number(r.up);
    return {
      worker_id: String(r.worker_id),
      host: String(r.host),
      pid: Number(r.pid),
      concurrency: Number(r.concurrency),
      started_at: iso(r.started_at),
      heartbeat_at: iso(r.heartbeat_at),
      state: r.shown as WorkerStatus["state"],
      claims: r.shown === "running" ? (r.claims as WorkerClaim[]) : [],
      units: Number(r.units),
      files,
      bytes: Number(r.bytes),
      rows_loaded: Number(r.rows_loaded),
      files_per_second: up > 0 ? Math.round((files / up) * 100) / 100 : 0,
    };
  });
}
