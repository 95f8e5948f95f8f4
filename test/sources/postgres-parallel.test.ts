import { join } from "node:path";
import { DuckDBInstance } from "@duckdb/node-api";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { keyRanges } from "../../src/sources/postgres-parallel.js";
import { makeProject, type RunJson, sluice } from "../support/cli.js";
import { createTestDatabase, pgServer, pingPostgres } from "../support/postgres.js";
import { serviceAvailable } from "../support/require-service.js";

const available = await serviceAvailable(`PostgreSQL at ${pgServer}`, pingPostgres);

const ROWS = 600_000;

async function warehouseRow(dir: string, sql: string): Promise<Record<string, string | null>> {
  const instance = await DuckDBInstance.create(join(dir, "warehouse.duckdb"), { access_mode: "READ_ONLY" });
  const con = await instance.connect();
  try {
    return (await con.runAndReadAll(sql)).getRowObjectsJson()[0] as Record<string, string | null>;
  } finally {
    con.closeSync();
    instance.closeSync();
  }
}

describe("keyRanges", () => {
  it("covers every key once: NULLs with the first range, the last open-ended", () => {
    expect(keyRanges('"id"', 1n, 100n, 2)).toEqual(['("id" < 51 OR "id" IS NULL)', '"id" >= 51']);
    expect(keyRanges('"id"', -5n, 4n, 3)).toEqual([
      '("id" < -1 OR "id" IS NULL)',
      '"id" >= -1 AND "id" < 3',
      '"id" >= 3',
    ]);
    expect(keyRanges('"id"', undefined, undefined, 4)).toEqual(["true"]);
    expect(keyRanges('"id"', 1n, 2n, 4)).toEqual(["true"]);
  });
});

describe.skipIf(!available)("PostgreSQL source: parallel key ranges in one exported snapshot", () => {
  let db: Awaited<ReturnType<typeof createTestDatabase>>;
  let admin: pg.Client;

  beforeAll(async () => {
    db = await createTestDatabase();
    admin = new pg.Client({ connectionString: db.url });
    await admin.connect();
    // Transfers between the low and the high half keep the total at zero: any one snapshot sums to zero,
    // ranges read in different snapshots would not.
    await admin.query(`CREATE TABLE ledger (id bigint PRIMARY KEY, amount bigint NOT NULL, note text);
      INSERT INTO ledger SELECT g, CASE WHEN g % 2 = 0 THEN 100 ELSE -100 END, md5(g::text) FROM generate_series(1, ${ROWS}) g;
      CREATE TABLE labels (code text PRIMARY KEY); INSERT INTO labels VALUES ('a');`);
  }, 120_000);
  afterAll(async () => {
    await admin?.end();
    await db?.cleanup();
  });

  it("reads every row once, in one snapshot, on several connections at once, while the source is written", async () => {
    const writer = new pg.Client({ connectionString: db.url });
    await writer.connect();
    let writing = true;
    let writes = 0;
    const writes$ = (async () => {
      while (writing) {
        const low = 1 + Math.floor(Math.random() * (ROWS / 2));
        const high = ROWS / 2 + 1 + Math.floor(Math.random() * (ROWS / 2));
        await writer.query(`BEGIN; UPDATE ledger SET amount = amount - 7 WHERE id = ${low};
          UPDATE ledger SET amount = amount + 7 WHERE id = ${high}; COMMIT`);
        writes++;
      }
    })();
    let concurrent = 0;
    try {
      const dir = makeProject(`warehouse: duckdb:warehouse.duckdb
pipelines:
  ledger:
    source: { database: "${db.url}", table: ledger, parallel: { key: id, parts: 3 } }
    target: { table: ledger, mode: replace }
`);
      const run = sluice(["run", "--json"], dir, { timeoutMs: 180_000 });
      let done = false;
      void run.finally(() => {
        done = true;
      });
      while (!done) {
        const r = await admin.query(
          `SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database()
             AND application_name = 'sluice-extract' AND state = 'active' AND query LIKE 'COPY%'`,
        );
        concurrent = Math.max(concurrent, Number(r.rows[0]?.n ?? 0));
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
      const result = await run;
      expect(result.code, result.stdout + result.stderr).toBe(0);
      expect(result.json<RunJson>().runs[0]!.rows.loaded).toBe(ROWS);
      expect(
        await warehouseRow(
          dir,
          "SELECT sum(amount)::VARCHAR AS total, count(*)::VARCHAR AS n, count(DISTINCT id)::VARCHAR AS ids FROM ledger",
        ),
      ).toEqual({ total: "0", n: String(ROWS), ids: String(ROWS) });
    } finally {
      writing = false;
      await writes$;
      await writer.end();
    }
    expect(writes).toBeGreaterThan(0);
    expect(concurrent).toBeGreaterThanOrEqual(2);
  }, 200_000);

  it("a key that is not an integer column fails the run before any row moves, naming it", async () => {
    const dir = makeProject(`warehouse: duckdb:warehouse.duckdb
pipelines:
  labels:
    source: { database: "${db.url}", table: labels, parallel: { key: code, parts: 2 } }
    retries: { max: 0 }
    target: { table: labels }
`);
    const r = await sluice(["run", "--json"], dir);
    expect(r.code).not.toBe(0);
    expect(r.stdout).toContain("source.parallel.key: column code is not an integer column");
  });

  it("sluice validate refuses parallel on a MySQL source", async () => {
    const dir = makeProject(`warehouse: duckdb:warehouse.duckdb
pipelines:
  t:
    source: { database: "mysql://root@127.0.0.1:3306/test", table: t, parallel: { key: id, parts: 2 } }
    target: { table: t }
`);
    const r = await sluice(["validate"], dir);
    expect(r.code).toBe(2);
    expect(r.stdout + r.stderr).toContain(
      "pipelines.t.source.parallel: parallel key ranges are read from PostgreSQL only",
    );
  });
});
