import { SluiceError } from "../errors.js";
import { parsePostgresUrl } from "../warehouse/postgres-url.js";
import { QUEUE_SCHEMA, safeMessage } from "./work-queue.js";
import { listWorkers, type WorkerStatus } from "./worker-registry.js";

/**
 * The workers registry of a PostgreSQL warehouse, read without opening the queue (`sluice workers`): none
 * when no worker ever started there.
 *
 * @example
 * const workers = await readWorkers("postgres://db/warehouse", 30);
 */
export async function readWorkers(url: string, leaseSeconds: number): Promise<WorkerStatus[]> {
  const target = parsePostgresUrl(url);
  const { default: pg } = await import("pg");
  const pool = new pg.Pool({ ...target.config, max: 1 });
  pool.on("error", () => undefined);
  try {
    const { rows } = await pool.query(`SELECT to_regclass('${QUEUE_SCHEMA}.workers') IS NOT NULL AS ok`);
    if (!rows[0]?.ok) return [];
    return await listWorkers(pool, leaseSeconds);
  } catch (error) {
    throw new SluiceError(
      "WAREHOUSE_ERROR",
      `PostgreSQL ${target.label}: ${safeMessage(error, target.secret)}`,
      { cause: error },
    );
  } finally {
    await pool.end().catch(() => undefined);
  }
}
