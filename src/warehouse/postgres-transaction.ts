import type pg from "pg";

/**
 * Runs `fn` in a transaction on `client`: `begin` (e.g. `BEGIN READ ONLY`), then `COMMIT` when it
 * returns, `ROLLBACK` (its own failure ignored) and the error rethrown when it throws.
 *
 * @example
 * const rows = await inPostgresTransaction(client, async () => (await client.query(sql)).rows, "BEGIN READ ONLY");
 */
export async function inPostgresTransaction<T>(
  client: pg.ClientBase,
  fn: () => Promise<T>,
  begin = "BEGIN",
): Promise<T> {
  await client.query(begin);
  try {
    const result = await fn();
    await client.query("COMMIT");
    return result;
  } catch (error) {
    await client.query("ROLLBACK").catch(() => undefined);
    throw error;
  }
}
