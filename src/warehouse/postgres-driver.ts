import pg from "pg";
import type { JsonRow, QueryBatch } from "../engine/duckdb-query.js";
import { SluiceError } from "../errors.js";
import { type CircuitBreaker, createCircuitBreaker } from "../resilience/circuit-breaker.js";
import { withRetry } from "../resilience/retry.js";
import { isTransientPgError, pgError } from "./postgres-errors.js";
import { readOnlyRows } from "./postgres-read-only-query.js";
import { parsePostgresUrl } from "./postgres-url.js";
import type { PoolStats } from "./warehouse.js";

/** How to reach a PostgreSQL server. */
export interface PostgresDriverOptions {
  readonly url: string;
  /** Retries of a transient failure (default 6) and their backoff base (default 250 ms). */
  readonly retries?: number;
  readonly retryBaseMs?: number;
  /** Called with a human sentence before each retry. */
  readonly onRetry?: (message: string) => void;
}

/** The connection side of a PostgreSQL warehouse: a pool, retries and the server's circuit breaker. */
export interface PostgresDriver {
  /** The server as messages name it (no password). */
  readonly label: string;
  readonly pool: pg.Pool;
  /** Runs `fn` with retries of transient failures, under the server's circuit breaker; errors never hold the password. */
  resilient<T>(action: string, fn: () => Promise<T>): Promise<T>;
  /** Runs `fn` on a pooled connection; one that failed transiently is released as broken. Not retried by itself. */
  withClient<T>(fn: (client: pg.PoolClient) => Promise<T>): Promise<T>;
  /** A statement on any pooled connection, retried. */
  query(sql: string): Promise<JsonRow[]>;
  /** A read-only query streamed in batches through a cursor (connecting is retried; the stream is not replayed). */
  streamQuery(sql: string): AsyncGenerator<QueryBatch>;
  poolStats(): PoolStats;
  end(): Promise<void>;
}

/**
 * Times every checkout of `pool` from the call to the connection in hand: queued behind busy connections
 * or opening a new one. `pool.query` checks out through `connect` (with a callback) too.
 */
function timeCheckouts(pool: pg.Pool): { checkouts: number; totalMs: number; maxMs: number } {
  const waits = { checkouts: 0, totalMs: 0, maxMs: 0 };
  const connect = pool.connect.bind(pool) as (cb?: (...args: unknown[]) => void) => unknown;
  const took = (started: number) => {
    const ms = performance.now() - started;
    waits.checkouts++;
    waits.totalMs += ms;
    waits.maxMs = Math.max(waits.maxMs, ms);
  };
  (pool as { connect: unknown }).connect = (cb?: (error: unknown, ...rest: unknown[]) => void) => {
    const started = performance.now();
    if (typeof cb === "function") {
      return connect((error: unknown, ...rest: unknown[]) => {
        if (!error) took(started);
        cb(error, ...rest);
      });
    }
    return (connect() as Promise<pg.PoolClient>).then((client) => {
      took(started);
      return client;
    });
  };
  return waits;
}

/** One breaker per server and process: a server that stays down fails fast for every warehouse on it. */
const breakers = new Map<string, CircuitBreaker>();

/** 64-bit integers and narrow numerics as JSON numbers when exact; dates and times as PostgreSQL prints them. */
export const postgresTypes = {
  getTypeParser(oid: number, format?: "text" | "binary") {
    if (oid === 20 || oid === 1700) {
      return (value: string) => {
        const n = Number(value);
        const digits = value.replace(/^-/, "").replace(".", "").replace(/^0+/, "").length;
        return Number.isFinite(n) && (oid === 20 ? Number.isSafeInteger(n) : digits <= 15) ? n : value;
      };
    }
    if ([1082, 1083, 1114, 1184, 1266].includes(oid)) return (value: string) => value;
    return pg.types.getTypeParser(oid, format);
  },
} as pg.CustomTypesConfig;

/**
 * A pool on the server of `options.url` (nothing connects yet). Transient failures are retried with
 * exponential backoff and jitter; a circuit breaker (5 consecutive operations failed after their
 * retries → open for 60 s) makes a down server fail fast. Passwords never appear in messages.
 *
 * @example
 * const driver = openPostgresDriver({ url }); await driver.query("SELECT 1");
 */
export function openPostgresDriver(options: PostgresDriverOptions): PostgresDriver {
  const target = parsePostgresUrl(options.url);
  const { label, secret } = target;
  const breaker =
    breakers.get(label) ??
    createCircuitBreaker({
      name: `PostgreSQL ${label}`,
      failureThreshold: 5,
      openMs: 60_000,
      isFailure: isTransientPgError,
    });
  breakers.set(label, breaker);
  const pool = new pg.Pool({ ...target.config, types: postgresTypes });
  const waits = timeCheckouts(pool);
  // Whether a connection ever succeeded: retry notices are for a server that went away, not a wrong URL.
  let reached = false;
  // A server restart (57P01) or a dropped connection ends every connection: an idle pooled one reports on
  // the pool, one checked out between two queries on the client itself, where an unheard 'error' event
  // would kill the process. Heard, it is harmless: the client's next query fails as transient (retried)
  // and the client is released as broken; the next checkout reconnects.
  pool.on("error", () => undefined);
  pool.on("connect", (client) => client.on("error", () => undefined));
  // The breaker counts operations that failed after their retries, not attempts: a restart (seconds of
  // refused connections) is ridden out by the retries of the operation it interrupts, while a server
  // that stays down opens the circuit after a few operations, and later ones fail fast.
  const resilient = async <T>(action: string, fn: () => Promise<T>): Promise<T> =>
    breaker.run(() =>
      withRetry(
        async () => {
          try {
            return await fn();
          } catch (error) {
            throw pgError(error, label, secret, action);
          }
        },
        {
          max: options.retries ?? 6,
          baseMs: options.retryBaseMs ?? 250,
          maxDelayMs: 8_000,
          // Six retries wait 8 s at least (16 s at most): longer than a restart takes.
          jitter: "equal",
          isTransient: (e) => e instanceof SluiceError && e.transient && e.code !== "CIRCUIT_OPEN",
          // Before the server was ever reached, a refused connection is most likely a wrong URL: the
          // retries stay quiet and the final error says what failed, once.
          onRetry: ({ attempt, error, delayMs }) => {
            if (reached) options.onRetry?.(`${(error as Error).message}; retry ${attempt} in ${delayMs} ms`);
          },
        },
      ),
    );
  const withClient = async <T>(fn: (client: pg.PoolClient) => Promise<T>): Promise<T> => {
    const client = await pool.connect();
    reached = true;
    let broken: Error | undefined;
    try {
      return await fn(client);
    } catch (error) {
      if (isTransientPgError(error)) broken = error as Error;
      throw error;
    } finally {
      client.release(broken);
    }
  };
  return {
    label,
    pool,
    resilient,
    withClient,
    query: (sql) => resilient("query", () => pool.query(sql).then((r) => r.rows as JsonRow[])),
    async *streamQuery(sql) {
      const client = await resilient("query", () => pool.connect());
      reached = true;
      let broken: Error | undefined;
      try {
        yield* readOnlyRows(client, sql, `PostgreSQL ${label}`, postgresTypes);
      } catch (error) {
        if (isTransientPgError(error)) broken = error as Error;
        throw error instanceof SluiceError ? error : pgError(error, label, secret, "query");
      } finally {
        client.release(broken);
      }
    },
    poolStats: () => ({
      total: pool.totalCount,
      idle: pool.idleCount,
      waiting: pool.waitingCount,
      checkouts: waits.checkouts,
      wait_ms_total: Math.round(waits.totalMs * 10) / 10,
      wait_ms_max: Math.round(waits.maxMs * 10) / 10,
    }),
    end: () => pool.end().catch(() => undefined),
  };
}
