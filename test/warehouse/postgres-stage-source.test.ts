import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { queryRows } from "../../src/engine/duckdb-query.js";
import { SluiceError } from "../../src/errors.js";
import { openPostgresWarehouse } from "../../src/warehouse/postgres-warehouse.js";
import type { Warehouse } from "../../src/warehouse/warehouse.js";
import { createTestDatabase, pgServer, pingPostgres } from "../support/postgres.js";
import { serviceAvailable } from "../support/require-service.js";

const available = await serviceAvailable(`PostgreSQL at ${pgServer}`, pingPostgres);

describe.skipIf(!available)("postgres warehouse sources: staged from the server", () => {
  let db: Awaited<ReturnType<typeof createTestDatabase>>;
  let warehouse: Warehouse;
  beforeAll(async () => {
    db = await createTestDatabase();
    const client = new pg.Client({ connectionString: db.url });
    await client.connect();
    await client.query(`CREATE TABLE kinds (
      id int8, small int2, n int4, exact numeric(12,3), loose numeric, real4 float4, real8 float8,
      flag bool, label text, code char(3), day date, stamp timestamp, stamp_tz timestamptz, clock time,
      doc jsonb, uid uuid, span interval, tags text[])`);
    await client.query(`CREATE TABLE cased (label text, "Label" text)`);
    await client.query(`INSERT INTO kinds VALUES
      (1, 2, 3, 1234.5, 1.25, 0.5, 1e300, true, '', 'ab', '2026-02-28', '2026-01-01 10:00:00.123456',
       '2026-01-01 10:00:00+02', '23:59:59', '{"a": [1, null]}', '00000000-0000-0000-0000-000000000001',
       '1 day', '{x,"y z"}'),
      (2, NULL, NULL, NULL, 12345678901234567890.123456789, 'NaN', '-Infinity', false, NULL, NULL, NULL, NULL,
       NULL, NULL, NULL, NULL, NULL, NULL),
      (3, -1, -1, -0.001, NULL, NULL, NULL, NULL, E'line\\n"quoted", comma', '', 'infinity', NULL, NULL, NULL,
       '"text"', NULL, NULL, '{}')`);
    // A server time zone with a half-hour offset: timestamptz values arrive as "...+05:30".
    await client.query(`ALTER DATABASE ${db.name} SET TimeZone = 'Asia/Kolkata'`);
    await client.end();
    warehouse = await openPostgresWarehouse({ url: db.url });
  });
  afterAll(async () => {
    await warehouse?.close();
    await db?.cleanup();
  });

  const engineRows = (sql: string) => queryRows(warehouse.engine, sql);

  it("stages every column with its DuckDB type and exact values, NULL apart from the empty string", async () => {
    const staged = await warehouse
      .stageSource({ source: { table: "cased" }, columns: {}, tablePrefix: "k0" })
      .catch((e: unknown) => e);
    // PostgreSQL tells "label" and "Label" apart; DuckDB does not.
    expect(staged).toBeInstanceOf(SluiceError);
    expect((staged as SluiceError).message).toMatch(
      /columns "label" and "Label" have the same name for DuckDB/,
    );
    const ok = await warehouse.stageSource({
      source: {
        sql: "select id, small, n, exact, loose, real4, real8, flag, label, code, day, stamp, stamp_tz, clock, doc, uid, span, tags from kinds order by id;",
      },
      columns: {},
      tablePrefix: "k1",
    });
    expect(ok.accepted).toBe(3);
    expect(await warehouse.query("SHOW TimeZone")).toEqual([{ TimeZone: "Asia/Kolkata" }]);
    expect(ok.malformed).toBe(0);
    expect(Object.fromEntries(ok.columns.map((c) => [c.name, c.type]))).toEqual({
      id: "BIGINT",
      small: "SMALLINT",
      n: "INTEGER",
      exact: "DECIMAL(12,3)",
      // numeric without precision: typed from its values (12345678901234567890.123456789 fits DECIMAL(38,9)).
      loose: "DECIMAL(38,9)",
      real4: "FLOAT",
      real8: "DOUBLE",
      flag: "BOOLEAN",
      label: "VARCHAR",
      code: "VARCHAR",
      day: "DATE",
      stamp: "TIMESTAMP",
      stamp_tz: "TIMESTAMP WITH TIME ZONE",
      clock: "TIME",
      doc: "JSON",
      uid: "UUID",
      span: "VARCHAR",
      tags: "VARCHAR",
    });
    const rows = await engineRows(
      `SELECT _sluice_line, id, small, exact::VARCHAR AS exact, loose::VARCHAR AS loose, real4::VARCHAR AS real4,
         real8::VARCHAR AS real8, flag, label, code, day::VARCHAR AS day, stamp::VARCHAR AS stamp,
         epoch_ms(stamp_tz) AS stamp_tz, clock::VARCHAR AS clock, doc::VARCHAR AS doc, uid::VARCHAR AS uid, span, tags
       FROM k1_stage ORDER BY id`,
    );
    expect(rows).toEqual([
      {
        _sluice_line: "1",
        id: "1",
        small: 2,
        exact: "1234.500",
        loose: "1.250000000",
        real4: "0.5",
        real8: "1e+300",
        flag: true,
        label: "",
        code: "ab ",
        day: "2026-02-28",
        stamp: "2026-01-01 10:00:00.123456",
        stamp_tz: "1767254400000",
        clock: "23:59:59",
        doc: '{"a": [1, null]}',
        uid: "00000000-0000-0000-0000-000000000001",
        span: "1 day",
        tags: '{x,"y z"}',
      },
      {
        _sluice_line: "2",
        id: "2",
        small: null,
        exact: null,
        loose: "12345678901234567890.123456789",
        real4: "nan",
        real8: "-inf",
        flag: false,
        label: null,
        code: null,
        day: null,
        stamp: null,
        stamp_tz: null,
        clock: null,
        doc: null,
        uid: null,
        span: null,
        tags: null,
      },
      {
        _sluice_line: "3",
        id: "3",
        small: -1,
        exact: "-0.001",
        loose: null,
        real4: null,
        real8: null,
        flag: null,
        label: 'line\n"quoted", comma',
        code: "   ",
        day: "infinity",
        stamp: null,
        stamp_tz: null,
        clock: null,
        doc: '"text"',
        uid: null,
        span: null,
        tags: "{}",
      },
    ]);
  });

  it("pushes the incremental filter to the server: integer and timestamp cursors, lag, declared types", async () => {
    const byId = await warehouse.stageSource({
      source: { table: "kinds" },
      columns: { exact: { type: "DOUBLE" } },
      cursor: { column: "id", after: "1", overlapMs: 0 },
      tablePrefix: "k2",
    });
    expect(byId.sql).toBe(`SELECT * FROM "kinds" WHERE "id" > '1'`);
    expect([byId.accepted, byId.cursorMax]).toEqual([2, "3"]);
    expect(byId.columns.find((c) => c.name === "exact")).toBeDefined();
    expect((await engineRows("SELECT typeof(exact) AS t FROM k2_stage LIMIT 1"))[0]!.t).toBe("DOUBLE");
    const byTime = await warehouse.stageSource({
      source: { sql: "select id, stamp from kinds where stamp is not null" },
      columns: {},
      // One hour of lag reaches back before the mark.
      cursor: { column: "stamp", after: "2026-01-01 10:30:00", overlapMs: 3_600_000 },
      tablePrefix: "k3",
    });
    expect([byTime.accepted, byTime.cursorMax]).toEqual([1, "2026-01-01 10:00:00.123456"]);
    const none = await warehouse.stageSource({
      source: { sql: "select id, stamp from kinds" },
      columns: {},
      cursor: { column: "stamp", after: "2026-01-01 10:00:00.123456", overlapMs: 0 },
      tablePrefix: "k4",
    });
    expect([none.accepted, none.cursorMax, none.columns.length]).toEqual([0, null, 2]);
  });

  it("a failing query or an unknown cursor is a QUERY_FAILED error naming the server", async () => {
    const bad = await warehouse
      .stageSource({ source: { sql: "select nope from kinds" }, columns: {}, tablePrefix: "k5" })
      .catch((e: unknown) => e);
    expect(bad).toBeInstanceOf(SluiceError);
    expect((bad as SluiceError).code).toBe("QUERY_FAILED");
    expect((bad as SluiceError).message).toMatch(
      /^source query failed on PostgreSQL .*: column "nope" does not exist/,
    );
    const cursor = await warehouse
      .stageSource({
        source: { table: "kinds" },
        columns: {},
        cursor: { column: "ts", after: "1", overlapMs: 0 },
        tablePrefix: "k6",
      })
      .catch((e: unknown) => e);
    expect((cursor as SluiceError).message).toMatch(/^incremental.cursor ts: the source has no such column/);
  });
});
