import { randomBytes } from "node:crypto";
import pg from "pg";

/** The PostgreSQL server tests use (SLUICE_TEST_PG overrides; a database name is added per test). */
export const pgServer = process.env.SLUICE_TEST_PG ?? "postgres://postgres@127.0.0.1:5432";

/** Throws unless the server answers. */
export async function pingPostgres(): Promise<void> {
  const client = new pg.Client({ connectionString: `${pgServer}/postgres`, connectionTimeoutMillis: 3000 });
  await client.connect();
  await client.end();
}

/** Runs SQL on the server's `postgres` database. */
export async function adminQuery(sql: string): Promise<pg.QueryResult> {
  return queryDatabase(`${pgServer}/postgres`, sql);
}

/** Runs SQL on the database at `url` on a connection of its own. */
export async function queryDatabase(url: string, sql: string): Promise<pg.QueryResult> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await client.query(sql);
  } finally {
    await client.end();
  }
}

/** Creates a fresh database; returns its URL and a cleanup that drops it. */
export async function createTestDatabase(): Promise<{ url: string; name: string; cleanup(): Promise<void> }> {
  const name = `sluice_test_${randomBytes(5).toString("hex")}`;
  await adminQuery(`CREATE DATABASE ${name}`);
  return {
    url: `${pgServer}/${name}`,
    name,
    async cleanup() {
      await adminQuery(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`).catch(() => undefined);
    },
  };
}
