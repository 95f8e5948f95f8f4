import { randomBytes } from "node:crypto";
import { join } from "node:path";
import { DuckDBInstance } from "@duckdb/node-api";
import mysql from "mysql2/promise";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { makeProject, type RunJson, sluice } from "../support/cli.js";
import { createTestDatabase, pgServer, pingPostgres, queryDatabase } from "../support/postgres.js";
import { serviceAvailable } from "../support/require-service.js";
import { runLogMessages } from "../support/run-log.js";

// Database extracts of rows of several megabytes: 30 rows of 8 MB text. The write of an extract read in
// place runs under a lower engine memory limit, which such rows do not fit; it runs again under the
// run's limit. The rows must land exactly once, whole.

const ROWS = 30;
/** md5 hex (32 characters) repeated: 8,000,000 characters, different in every row. */
const REPEAT = 250_000;
const RETRIED = "written again under the run's memory limit";
/** A run moves 240 MB twice and peaks near the 1 GB engine limit: slow on a busy machine. */
const TIMEOUT_MS = 300_000;

async function warehouseRows(dir: string, sql: string): Promise<Record<string, string | null>[]> {
  const instance = await DuckDBInstance.create(join(dir, "warehouse.duckdb"), { access_mode: "READ_ONLY" });
  const con = await instance.connect();
  try {
    return (await con.runAndReadAll(sql)).getRowObjectsJson() as Record<string, string | null>[];
  } finally {
    con.closeSync();
    instance.closeSync();
  }
}

/** Runs a project of one append of `url`'s table `wide`, then compares the target with the source's digests. */
async function loadsEveryRowOnce(url: string, sourceDigests: Map<string, string>): Promise<void> {
  const dir = makeProject(`warehouse: duckdb:warehouse.duckdb
landing: landing
pipelines:
  wide:
    source: { database: "${url}", table: wide }
    target: { table: wide, mode: append }
`);
  const result = await sluice(["run", "--json"], dir, { env: { SLUICE_MEMORY_LIMIT: "" } });
  expect(result.code, result.stdout + result.stderr).toBe(0);
  const run = result.json<RunJson>().runs[0]!;
  expect(run).toMatchObject({ status: "succeeded", rows: { loaded: ROWS } });
  // The lower limit was tried and given up: this is the path under test.
  expect(runLogMessages(dir, run.run_id)).toContain(RETRIED);
  const landed = await warehouseRows(
    dir,
    "SELECT id::VARCHAR AS id, length(v)::VARCHAR AS len, md5(v) AS digest FROM wide ORDER BY id",
  );
  expect(landed).toHaveLength(ROWS);
  expect(new Map(landed.map((r) => [r.id!, r.digest!]))).toEqual(sourceDigests);
  expect(new Set(landed.map((r) => r.len))).toEqual(new Set([String(32 * REPEAT)]));
  // One load, one ledger entry, one run record, reconciled against the source's count.
  const [catalog] = await warehouseRows(
    dir,
    `SELECT (SELECT count(*) FROM sluice.loads)::VARCHAR AS loads,
       (SELECT max(inserted) FROM sluice.loads)::VARCHAR AS inserted,
       (SELECT count(*) FROM sluice.files WHERE status = 'loaded')::VARCHAR AS files,
       (SELECT count(*) FROM sluice.runs)::VARCHAR AS runs,
       (SELECT report::VARCHAR FROM sluice.runs) AS report`,
  );
  expect(catalog).toMatchObject({ loads: "1", inserted: String(ROWS), files: "1", runs: "1" });
  expect(JSON.parse(catalog!.report!).reconciliation).toMatchObject({
    source_rows: ROWS,
    target_rows: ROWS,
    ok: true,
  });
}

const pgAvailable = await serviceAvailable(`PostgreSQL at ${pgServer}`, pingPostgres);

describe.skipIf(!pgAvailable)("PostgreSQL extract of rows of several megabytes", () => {
  let db: Awaited<ReturnType<typeof createTestDatabase>>;

  beforeAll(async () => {
    db = await createTestDatabase();
    await queryDatabase(
      db.url,
      `CREATE TABLE wide (id int PRIMARY KEY, v text);
       INSERT INTO wide SELECT g, repeat(md5(g::text), ${REPEAT}) FROM generate_series(1, ${ROWS}) g`,
    );
  });
  afterAll(async () => {
    await db?.cleanup();
  });

  it(
    "loads every row once, whole, when the write must leave the lower memory limit",
    async () => {
      const digests = await queryDatabase(db.url, "SELECT id::text AS id, md5(v) AS digest FROM wide");
      await loadsEveryRowOnce(
        db.url,
        new Map(digests.rows.map((r: { id: string; digest: string }) => [r.id, r.digest])),
      );
    },
    TIMEOUT_MS,
  );
});

const mysqlServer = process.env.SLUICE_TEST_MYSQL ?? "mysql://root@127.0.0.1:3306";
const [, user = "root", host = "127.0.0.1", port = "3306"] =
  /^mysql:\/\/([^@]*)@([^:/]+):?(\d*)/.exec(mysqlServer) ?? [];
const connect = (database?: string) =>
  mysql.createConnection({ host, port: Number(port || 3306), user, ...(database ? { database } : {}) });
const mysqlAvailable = await serviceAvailable(`MySQL/MariaDB at ${mysqlServer}`, async () => {
  await (await connect()).end();
});

describe.skipIf(!mysqlAvailable)("MySQL/MariaDB extract of rows of several megabytes", () => {
  const database = `sluice_wide_${randomBytes(4).toString("hex")}`;
  let con: mysql.Connection;

  beforeAll(async () => {
    const admin = await connect();
    await admin.query(`CREATE DATABASE ${database}`);
    await admin.end();
    con = await connect(database);
    await con.query("CREATE TABLE wide (id int PRIMARY KEY, v longtext)");
    // One row a statement: each stays below the server's packet limit.
    for (let id = 1; id <= ROWS; id++) {
      await con.query(`INSERT INTO wide SELECT ${id}, repeat(md5('${id}'), ${REPEAT})`);
    }
  });
  afterAll(async () => {
    await con?.query(`DROP DATABASE IF EXISTS ${database}`).catch(() => undefined);
    await con?.end();
  });

  it(
    "loads every row once, whole, when the write must leave the lower memory limit",
    async () => {
      const [digests] = await con.query("SELECT CAST(id AS CHAR) AS id, md5(v) AS digest FROM wide");
      await loadsEveryRowOnce(
        `mysql://${user}@${host}:${port || 3306}/${database}`,
        new Map((digests as { id: string; digest: string }[]).map((r) => [r.id, r.digest])),
      );
    },
    TIMEOUT_MS,
  );
});
