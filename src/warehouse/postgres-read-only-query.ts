import type pg from "pg";
import Cursor from "pg-cursor";
import type { JsonRow, QueryBatch } from "../engine/duckdb-query.js";
import { SluiceError } from "../errors.js";
import { postgresQueryProblem } from "../plan/postgres-side-effects.js";

/** Command tags of statements that end the transaction they run in. */
const endsTransaction = new Set(["COMMIT", "ROLLBACK"]);

/** Rows fetched from the cursor at a time: memory holds one batch, whatever the result's size. */
const BATCH_ROWS = 2000;

/**
 * Runs one user statement (`sluice query`) in a `READ ONLY` transaction on `client`, its rows yielded
 * batch by batch from a cursor. A `READ ONLY` transaction does not stop every effect (large objects,
 * server files, notifications, locks…): a statement that is not a query, or that calls such a function,
 * is refused before it is sent (see {@link postgresQueryProblem}). A cursor sends the statement with the
 * extended query protocol, in which the server accepts exactly one statement — so `COMMIT; DELETE ...`
 * cannot end the read-only transaction and write after it even if it got past the check. `where` names
 * the server in messages (`PostgreSQL user@host:port/db`).
 * The transaction ends when the rows are read (COMMIT) or the consumer stops or fails (ROLLBACK).
 * Yields at least one batch, so an empty result still names its columns.
 *
 * @example
 * for await (const { rows } of readOnlyRows(client, "SELECT * FROM orders", "PostgreSQL db", types)) write(rows);
 */
export async function* readOnlyRows(
  client: pg.PoolClient,
  sql: string,
  where: string,
  types?: pg.CustomTypesConfig,
): AsyncGenerator<QueryBatch> {
  const problem = postgresQueryProblem(sql);
  if (problem) throw new SluiceError("QUERY_FAILED", `${where}: query failed: ${problem}`);
  await client.query("BEGIN READ ONLY");
  let committed = false;
  const cursor = client.query(new Cursor(sql, undefined, types ? { types } : {}));
  try {
    for (let first = true; ; first = false) {
      const { rows, result } = await new Promise<{ rows: JsonRow[]; result: pg.QueryResult }>(
        (resolve, reject) =>
          cursor.read(BATCH_ROWS, (error, rows, result) =>
            error
              ? reject(severalStatements(error) ? severalStatementsError(where, error) : error)
              : resolve({ rows, result }),
          ),
      );
      if (endsTransaction.has(result.command)) {
        throw new SluiceError(
          "QUERY_FAILED",
          `${where}: query failed: ${result.command} is not a query; sluice query runs read-only SQL in a transaction of its own`,
        );
      }
      if (rows.length > 0 || first) yield { columns: result.fields.map((f) => f.name), rows };
      if (rows.length < BATCH_ROWS) break;
    }
    await cursor.close();
    await client.query("COMMIT");
    committed = true;
  } finally {
    if (!committed) {
      await cursor.close().catch(() => undefined);
      await client.query("ROLLBACK").catch(() => undefined);
    }
  }
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
