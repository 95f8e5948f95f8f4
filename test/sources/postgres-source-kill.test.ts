import { join } from "node:path";
import { DuckDBInstance } from "@duckdb/node-api";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { makeProject, type RunJson, sluice } from "../support/cli.js";
import { createTestDatabase, pgServer, pingPostgres } from "../support/postgres.js";
import { serviceAvailable } from "../support/require-service.js";

const available = await serviceAvailable(`PostgreSQL at ${pgServer}`, pingPostgres);

const ROWS = 1_500_000;

async function warehouseCount(dir: string): Promise<{ n: string; ids: string } | undefined> {
  const instance = await DuckDBInstance.create(join(dir, "warehouse.duckdb"), { access_mode: "READ_ONLY" });
  const con = await instance.connect();
  try {
    const exists = await con.runAndReadAll(
      "SELECT count(*) AS n FROM duckdb_tables() WHERE table_name = 'events'",
    );
    if (Number(exists.getRowObjectsJson()[0]!.n) === 0) return undefined;
    const reader = await con.runAndReadAll(
      "SELECT count(*)::VARCHAR AS n, count(DISTINCT id)::VARCHAR AS ids FROM events",
    );
    return reader.getRowObjectsJson()[0] as { n: string; ids: string };
  } finally {
    con.closeSync();
    instance.closeSync();
  }
}

describe.skipIf(!available)("PostgreSQL source: the connection is killed mid-extract", () => {
  let db: Awaited<ReturnType<typeof createTestDatabase>>;
  let admin: pg.Client;

  beforeAll(async () => {
    db = await createTestDatabase();
    admin = new pg.Client({ connectionString: db.url });
    await admin.connect();
    await admin.query(`CREATE TABLE events (id int PRIMARY KEY, payload text NOT NULL);
      INSERT INTO events SELECT g, md5(g::text) FROM generate_series(1, ${ROWS}) g`);
  }, 120_000);
  afterAll(async () => {
    await admin?.end();
    await db?.cleanup();
  });

  /**
   * Runs the pipeline and terminates the extract's server process once, while its COPY streams rows.
   * Returns the run and whether a backend was terminated (the test is void otherwise).
   */
  async function runAndKill(
    retries: string,
  ): Promise<{ run: ReturnType<typeof sluice>; killed: boolean; dir: string }> {
    const dir = makeProject(`warehouse: duckdb:warehouse.duckdb
pipelines:
  events:
    source: { database: "${db.url}", table: events }
    retries: ${retries}
    target: { table: events }
`);
    const run = sluice(["run", "--json"], dir, { timeoutMs: 180_000 });
    let killed = false;
    const deadline = Date.now() + 60_000;
    while (!killed && Date.now() < deadline) {
      const r = await admin.query(
        `SELECT pg_terminate_backend(pid) AS t FROM pg_stat_activity
         WHERE datname = current_database() AND application_name = 'sluice-extract'
           AND state = 'active' AND query LIKE 'COPY%'`,
      );
      killed = r.rows.some((row) => row.t === true);
      if (!killed) await new Promise((resolve) => setTimeout(resolve, 10));
    }
    return { run, killed, dir };
  }

  it("without retries the run fails with a clear transient error and loads nothing", async () => {
    const { run, killed, dir } = await runAndKill("{ max: 0 }");
    const result = await run;
    expect(killed).toBe(true);
    expect(result.code).not.toBe(0);
    const report = result.json<RunJson>().runs[0]!;
    expect(report.status).toBe("failed");
    // The server's own words, the source named without a password; a retry would have read it again.
    expect(String((report as { error?: string }).error)).toMatch(
      /PostgreSQL postgres@127\.0\.0\.1:5432\/sluice_test_\w+: .*terminat/i,
    );
    expect(await warehouseCount(dir)).toBeUndefined();
  }, 200_000);

  it("with retries the run reads the whole extract again from a new snapshot: every row once", async () => {
    const { run, killed, dir } = await runAndKill("{ max: 2, base: 100ms, max_delay: 500ms }");
    const result = await run;
    expect(killed).toBe(true);
    expect(result.code, result.stdout + result.stderr).toBe(0);
    expect(result.json<RunJson>().runs[0]!.status).toBe("succeeded");
    expect(await warehouseCount(dir)).toEqual({
      n: String(ROWS),
      ids: String(ROWS),
    });
  }, 200_000);
});
