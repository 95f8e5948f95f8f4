import type pg from "pg";
import type { JsonRow } from "../engine/duckdb-query.js";
import { SluiceError } from "../errors.js";
import { postgresQueryProblem } from "../plan/postgres-side-effects.js";
import { inPostgresTransaction } from "./postgres-transaction.js";

/** node-postgres accepts `queryMode` (8.23+); its type definitions do not name it yet. */
type ExtendedQueryConfig = pg.QueryConfig & { readonly queryMode: "extended" };

/** Command tags of statements that end the transaction they run in. */
const endsTransaction = new Set(["COMMIT", "ROLLBACK"]);

/**
 * Runs one user statement (`sluice query`) in a `READ ONLY` transaction on `client`. A `READ ONLY`
 * transaction does not stop every effect (large objects, server files, notifications, locks…): a
 * statement that is not a query, or that calls such a function, is refused before it is sent (see
 * {@link postgresQueryProblem}). The statement is sent with the extended query protocol, in which the
 * server accepts exactly one statement — so `COMMIT; DELETE ...` cannot end the read-only transaction and
 * write after it even if it got past the check. `where` names the server in messages
 * (`PostgreSQL user@host:port/db`).
 *
 * @example
 * const { columns, rows } = await readOnlyQuery(client, "SELECT count(*) FROM orders", "PostgreSQL sluice@db:5432/w");
 */
export async function readOnlyQuery(
  client: pg.PoolClient,
  sql: string,
  where: string,
): Promise<{ columns: string[]; rows: JsonRow[] }> {
  const problem = postgresQueryProblem(sql);
  if (problem) throw new SluiceError("QUERY_FAILED", `${where}: query failed: ${problem}`);
  return inPostgresTransaction(
    client,
    async () => {
      const config: ExtendedQueryConfig = { text: sql, queryMode: "extended" };
      const result = await client.query(config).catch((error: unknown) => {
        throw severalStatements(error) ? severalStatementsError(where, error) : error;
      });
      if (endsTransaction.has(result.command)) {
        throw new SluiceError(
          "QUERY_FAILED",
          `${where}: query failed: ${result.command} is not a query; sluice query runs read-only SQL in a transaction of its own`,
        );
      }
      return { columns: result.fields.map((f) => f.name), rows: result.rows as JsonRow[] };
    },
    "BEGIN READ ONLY",
  );
}

/** The server's answer to several statements sent with the extended protocol (SQLSTATE 42601). */
function severalStatements(error: unknown): boolean {
  const e = error as { code?: unknown; message?: unknown } | null;
  return e?.code === "42601" && typeof e.message === "string" && /multiple commands/.test(e.message);
}

function severalStatementsError(where: string, cause: unknown): SluiceError {
  return new SluiceError(
    "QUERY_FAILED",
    `${where}: query failed: the SQL holds several statements; sluice query runs one statement at a time (nothing was run)`,
    { cause },
  );
}
