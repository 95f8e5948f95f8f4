import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { DuckDBInstance } from "@duckdb/node-api";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { makeProject, type RunJson, sluice } from "../support/cli.js";
import { createTestDatabase, pgServer, pingPostgres } from "../support/postgres.js";
import { serviceAvailable } from "../support/require-service.js";
import { runLogMessages } from "../support/run-log.js";

const available = await serviceAvailable(`PostgreSQL at ${pgServer}`, pingPostgres);

/** Rows of a query on a project's DuckDB warehouse, every value as text. */
async function warehouseRows(dir: string, sql: string): Promise<Record<string, string | null>[]> {
  const instance = await DuckDBInstance.create(join(dir, "warehouse.duckdb"), { access_mode: "READ_ONLY" });
  const con = await instance.connect();
  try {
    const reader = await con.runAndReadAll(sql);
    return reader.getRowObjectsJson() as Record<string, string | null>[];
  } finally {
    con.closeSync();
    instance.closeSync();
  }
}

function project(url: string, source: string, extra = ""): string {
  return makeProject(`warehouse: duckdb:warehouse.duckdb
landing: landing
pipelines:
  customers:
    source: { database: "${url}", ${source} }
${extra}    target: { table: customers, mode: merge, keys: [id] }
`);
}

/** Every file under `dir` (the project: warehouse, logs, run records) that holds `text`. */
function filesHolding(dir: string, text: string): string[] {
  const found: string[] = [];
  const walk = (d: string) => {
    for (const name of readdirSync(d)) {
      const path = join(d, name);
      if (statSync(path).isDirectory()) walk(path);
      else if (readFileSync(path).includes(text)) found.push(path);
    }
  };
  walk(dir);
  return found;
}

describe.skipIf(!available)("PostgreSQL database source", () => {
  let db: Awaited<ReturnType<typeof createTestDatabase>>;
  let client: pg.Client;

  beforeAll(async () => {
    db = await createTestDatabase();
    client = new pg.Client({ connectionString: db.url });
    await client.connect();
    await client.query(`
      CREATE TYPE mood AS ENUM ('sad', 'happy');
      CREATE TABLE typed (
        id int PRIMARY KEY, n numeric(12,2), wide numeric, f8 float8, b bool, d date,
        ts timestamp(6), tz timestamptz, u uuid, js json, jb jsonb, words text[], nums int[],
        m mood, bin bytea, txt text, big bigint, t time);
      INSERT INTO typed VALUES
        (1, 12345678.91, 1.000000000001, 0.1, true, '2020-02-29', '2024-01-01 10:00:00.123456',
         '2024-01-01 10:00:00+02', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '{"a": [1, 2]}',
         '{"k": {"n": null}}', '{x,"y, z",NULL}', '{1,2,3}', 'happy', '\\x00ff41', 'a"b,c', 9007199254740993, '23:59:59.5'),
        (2, -0.01, -5, -1e30, false, '1999-12-31', '1970-01-01 00:00:00', '1970-01-01 00:00:00+00',
         NULL, 'null', '[]', '{}', '{}', 'sad', '\\x', '', -1, '00:00:00'),
        (3, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL);
      CREATE TABLE shapes (id int, p point);
      INSERT INTO shapes VALUES (1, '(1,2)');
    `);
  });
  afterAll(async () => {
    await client?.end();
    await db?.cleanup();
  });

  it("carries every mapped type: values compare equal with the source's, NULL and '' kept apart", async () => {
    const dir = project(db.url, "table: public.typed");
    const run = await sluice(["run", "--json"], dir);
    expect(run.stderr).toBe("");
    expect(run.json<RunJson>().runs[0]).toMatchObject({ status: "succeeded", rows: { loaded: 3 } });
    const types = await warehouseRows(
      dir,
      "SELECT column_name AS c, data_type AS t FROM information_schema.columns WHERE table_name = 'customers' AND column_name NOT LIKE '\\_sluice%' ESCAPE '\\'",
    );
    expect(Object.fromEntries(types.map((r) => [r.c, r.t]))).toMatchObject({
      id: "INTEGER",
      n: "DECIMAL(12,2)",
      wide: "DECIMAL(38,12)",
      f8: "DOUBLE",
      b: "BOOLEAN",
      d: "DATE",
      ts: "TIMESTAMP",
      tz: "TIMESTAMP WITH TIME ZONE",
      u: "UUID",
      js: "JSON",
      jb: "JSON",
      words: "VARCHAR[]",
      nums: "INTEGER[]",
      m: "VARCHAR",
      bin: "BLOB",
      txt: "VARCHAR",
      big: "BIGINT",
      t: "TIME",
    });
    // The source's own rendering of each value, in forms both sides print alike.
    const source = await client.query(`
      SELECT id, n::text, wide::text, (f8 = 0.1 OR f8 = -1e30)::text AS f8, b::text, d::text,
        to_char(ts, 'YYYY-MM-DD HH24:MI:SS.US') AS ts, extract(epoch FROM tz)::bigint::text AS tz, u::text,
        js::text, jb::text, array_to_json(words)::text AS words, array_to_json(nums)::text AS nums, m::text,
        encode(bin, 'hex') AS bin, txt, big::text, t::text
      FROM typed ORDER BY id`);
    const landed = await warehouseRows(
      dir,
      `
      SELECT id, n::VARCHAR AS n, rtrim(rtrim(wide::VARCHAR, '0'), '.') AS wide,
        CASE WHEN f8 IS NULL THEN NULL ELSE (f8 = 0.1 OR f8 = -1e30)::VARCHAR END AS f8, b::VARCHAR AS b,
        d::VARCHAR AS d, strftime(ts, '%Y-%m-%d %H:%M:%S.%f') AS ts, epoch(tz)::BIGINT::VARCHAR AS tz,
        u::VARCHAR AS u, js::VARCHAR AS js, jb::VARCHAR AS jb, to_json(words)::VARCHAR AS words,
        to_json(nums)::VARCHAR AS nums, m, lower(hex(bin)) AS bin, txt, big::VARCHAR AS big, t::VARCHAR AS t
      FROM customers ORDER BY id`,
    );
    const norm = (rows: Record<string, unknown>[]) =>
      rows.map((r) =>
        Object.fromEntries(
          Object.entries(r).map(([k, v]) => [
            k,
            v === null
              ? null
              : k === "js" || k === "jb" || k === "words" || k === "nums"
                ? JSON.stringify(JSON.parse(String(v)))
                : String(v),
          ]),
        ),
      );
    const expected = norm(source.rows).map((r) => ({
      ...r,
      wide: r.wide === null ? null : String(r.wide).replace(/\.?0+$/, ""),
    }));
    expect(norm(landed)).toEqual(expected);
  });

  it("reads a query incrementally: only rows above the stored mark, nothing twice", async () => {
    await client.query(`CREATE TABLE events (id int PRIMARY KEY, v text, updated_at timestamptz NOT NULL);
      INSERT INTO events SELECT g, 'v' || g, '2024-01-01'::timestamptz + g * interval '1 minute' FROM generate_series(1, 500) g`);
    const dir = project(
      db.url,
      'query: "select * from events where id > 0"',
      "    incremental: { cursor: updated_at }\n",
    );
    const first = (await sluice(["run", "--json"], dir)).json<RunJson>().runs[0]!;
    expect(first.rows.loaded).toBe(500);
    expect(first.files[0]!.path).toBe("postgres:query:customers");
    expect((await sluice(["run", "--json"], dir)).json<RunJson>().runs[0]!.rows.loaded).toBe(0);
    await client.query(`INSERT INTO events SELECT g, 'v' || g, '2025-01-01'::timestamptz + g * interval '1 minute' FROM generate_series(501, 520) g;
      UPDATE events SET v = 'changed', updated_at = '2026-01-01' WHERE id = 7`);
    expect((await sluice(["run", "--json"], dir)).json<RunJson>().runs[0]!.rows.loaded).toBe(21);
    const rows = await warehouseRows(
      dir,
      "SELECT count(*)::VARCHAR AS n, count(DISTINCT id)::VARCHAR AS ids, max(v) FILTER (WHERE id = 7) AS v7 FROM customers",
    );
    expect(rows[0]).toEqual({ n: "520", ids: "520", v7: "changed" });
  });

  it("profiles a plain extract in the target once the publish committed: the stored profile describes its rows", async () => {
    await client.query(`CREATE TABLE sales (id int PRIMARY KEY, region text, amount numeric(8,2));
      INSERT INTO sales SELECT g, CASE WHEN g % 10 = 0 THEN NULL ELSE 'r' || (g % 4) END, g / 4.0
      FROM generate_series(1, 3000) g`);
    const dir = makeProject(`warehouse: duckdb:warehouse.duckdb
landing: landing
pipelines:
  sales:
    source: { database: "${db.url}", table: sales }
    target: { table: sales, mode: replace }
`);
    for (const round of [1, 2]) {
      const result = await sluice(["run", "--json"], dir);
      expect(result.code, result.stdout).toBe(0);
      const run = result.json<RunJson>().runs[0]!;
      expect(run.rows.loaded).toBe(3000);
      // The view over the extract is not read for the profile: the profile reads the written rows.
      const messages = runLogMessages(dir, run.run_id);
      expect(messages.indexOf("published"), `round ${round}: ${messages.join(", ")}`).toBeGreaterThan(-1);
      expect(messages.indexOf("profiled")).toBeGreaterThan(messages.indexOf("published"));
      const [stored] = await warehouseRows(
        dir,
        `SELECT report::VARCHAR AS report FROM sluice.runs WHERE run_id = '${run.run_id}'`,
      );
      const profile = JSON.parse(stored!.report!).profile;
      expect(profile.rows).toBe(3000);
      expect(profile.columns.region).toMatchObject({ nulls: 300, distinct: 4, min: "r0", max: "r3" });
      expect(profile.columns.amount).toMatchObject({ nulls: 0, distinct: 3000, min: "0.25", max: "750.00" });
      expect(profile.columns.id).toMatchObject({ nulls: 0, min: "1", max: "3000" });
      expect(profile.columns._sluice_run_id).toBeUndefined();
      // The target is reconciled against the rows COPY said it sent (the batch is not counted again).
      expect(JSON.parse(stored!.report!).reconciliation).toMatchObject({
        source_rows: 3000,
        target_rows: 3000,
        ok: true,
      });
    }
  });

  it("extracts one consistent snapshot while the source is being written", async () => {
    // Transfers keep the total at zero; inserts add pairs that cancel. Any snapshot sums to zero.
    await client.query(`CREATE TABLE ledger (id int PRIMARY KEY, amount bigint NOT NULL);
      INSERT INTO ledger SELECT g, CASE WHEN g % 2 = 0 THEN 100 ELSE -100 END FROM generate_series(1, 200000) g`);
    const writer = new pg.Client({ connectionString: db.url });
    await writer.connect();
    let writing = true;
    let writes = 0;
    const writes$ = (async () => {
      let next = 200001;
      while (writing) {
        const a = 1 + Math.floor(Math.random() * 200000);
        await writer.query(`BEGIN; UPDATE ledger SET amount = amount - 7 WHERE id = ${a}; UPDATE ledger SET amount = amount + 7 WHERE id = ${(a % 200000) + 1};
          INSERT INTO ledger VALUES (${next}, 5), (${next + 1}, -5); COMMIT`);
        next += 2;
        writes++;
      }
    })();
    try {
      const dir = makeProject(`warehouse: duckdb:warehouse.duckdb
pipelines:
  ledger:
    source: { database: "${db.url}", table: ledger }
    target: { table: ledger, mode: replace }
`);
      const run = await sluice(["run", "--json"], dir);
      expect(run.json<RunJson>().runs[0]!.status).toBe("succeeded");
      const [sum] = await warehouseRows(
        dir,
        "SELECT sum(amount)::VARCHAR AS total, (count(*) % 2)::VARCHAR AS odd FROM ledger",
      );
      expect(sum).toEqual({ total: "0", odd: "0" });
    } finally {
      writing = false;
      await writes$;
      await writer.end();
    }
    expect(writes).toBeGreaterThan(0);
  });

  it("refuses a type it cannot carry before any row moves, naming the column", async () => {
    const dir = project(db.url, "table: shapes");
    const run = await sluice(["run"], dir);
    expect(run.code).toBe(1);
    expect(run.stdout + run.stderr).toMatch(/column "p" has type point, which Sluice cannot carry/);
    const tables = await warehouseRows(
      dir,
      "SELECT count(*)::VARCHAR AS n FROM information_schema.tables WHERE table_name = 'customers'",
    );
    expect(tables[0]!.n).toBe("0");
  });

  it("a refused login is one clear line; the password is nowhere: output, runs --json, logs, warehouse", async () => {
    const secret = "pw-Zq81x";
    const url = `${pgServer.replace(/^postgres:\/\/[^@]*@/, `postgres://sluice_no_such_user:$\{SRC_PW}@`)}/${db.name}`;
    const dir = project(url, "table: typed");
    const env = { SRC_PW: secret };
    const run = await sluice(["run"], dir, { env });
    expect(run.code).toBe(1);
    expect(run.stdout + run.stderr).toMatch(
      /sluice_no_such_user@.*authentication failed.*check the user and password in source\.database/,
    );
    const runs = await sluice(["runs", "--json"], dir, { env });
    expect(runs.stdout).toContain("authentication failed");
    for (const text of [run.stdout, run.stderr, runs.stdout, runs.stderr]) expect(text).not.toContain(secret);
    expect(filesHolding(dir, secret)).toEqual([]);
  });
});
