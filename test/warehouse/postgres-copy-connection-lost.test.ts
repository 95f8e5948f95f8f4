import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { DuckDBInstance } from "@duckdb/node-api";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { copyEngineRows, copyEngineRowsAhead } from "../../src/warehouse/postgres-copy.js";
import { isTransientPgError } from "../../src/warehouse/postgres-errors.js";
import { createTestDatabase, pgServer, pingPostgres } from "../support/postgres.js";
import { serviceAvailable } from "../support/require-service.js";

const available = await serviceAvailable(`PostgreSQL at ${pgServer}`, pingPostgres);

const columns = [
  { name: "id", type: "BIGINT", engineType: "BIGINT" },
  { name: "name", type: "VARCHAR", engineType: "VARCHAR" },
];

// A server restart ends a COPY ... FROM STDIN under way (57P01). pg-copy-streams drops its connection on
// that error while the rows keep coming; writing on raised "Cannot read properties of null (reading
// 'stream')", a TypeError taken for a lasting failure: the publish was not retried and a worker's unit
// failed. The copy must fail with the connection's error, which is retried.
describe.skipIf(!available)("COPY into PostgreSQL when the server ends the connection", () => {
  let db: Awaited<ReturnType<typeof createTestDatabase>>;
  let pool: pg.Pool;
  let admin: pg.Client;
  const dir = mkdtempSync(join(tmpdir(), "sluice-copy-lost-"));
  beforeAll(async () => {
    db = await createTestDatabase();
    pool = new pg.Pool({ connectionString: db.url });
    pool.on("error", () => undefined);
    admin = new pg.Client({ connectionString: db.url });
    await admin.connect();
    await admin.query("CREATE TABLE t (id bigint, name text)");
  });
  afterAll(async () => {
    await admin?.end();
    await pool?.end();
    await db?.cleanup();
    rmSync(dir, { recursive: true, force: true });
  });

  /** Terminates the backend running a COPY into t as soon as it has started. */
  async function terminateCopy(): Promise<void> {
    for (let i = 0; i < 2000; i++) {
      const { rows } = await admin.query(
        "SELECT pg_terminate_backend(pid) AS t FROM pg_stat_activity WHERE query LIKE 'COPY t %' AND state = 'active' AND pid <> pg_backend_pid()",
      );
      if (rows.length > 0) return;
      await sleep(5);
    }
    throw new Error("no COPY to terminate");
  }

  for (const [how, copy] of [
    ["through a pipe", copyEngineRows],
    ["behind a file", copyEngineRowsAhead],
  ] as const) {
    it(`${how}: the copy fails with the lost connection's error (transient), not a TypeError`, async () => {
      const instance = await DuckDBInstance.create(":memory:");
      const engine = await instance.connect();
      const client = await pool.connect();
      client.on("error", () => undefined);
      try {
        await engine.run(
          "CREATE TABLE src AS SELECT i AS id, repeat('x', 40) || i AS name FROM range(3000000) r(i)",
        );
        const copying = (
          copy === copyEngineRows
            ? copyEngineRows(engine, client, "SELECT * FROM src", columns, "t", join(dir, `${how}.csv`))
            : copyEngineRowsAhead(
                engine,
                client,
                "SELECT * FROM src",
                columns,
                "t",
                join(dir, "ahead.csv"),
                () => undefined,
              )
        ).then(
          () => undefined,
          (error: unknown) => error,
        );
        await terminateCopy();
        const error = await copying;
        expect(error, String(error)).toBeInstanceOf(Error);
        expect(String(error)).not.toMatch(/Cannot read properties of null/);
        expect(isTransientPgError(error), String(error)).toBe(true);
      } finally {
        client.release(true);
        engine.closeSync();
        instance.closeSync();
      }
    }, 120_000);
  }
});
