import { randomBytes } from "node:crypto";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { DuckDBInstance } from "@duckdb/node-api";
import mysql from "mysql2/promise";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { makeProject, type RunJson, sluice } from "../support/cli.js";
import { serviceAvailable } from "../support/require-service.js";

/** The MySQL/MariaDB server tests use (SLUICE_TEST_MYSQL overrides): root, empty password. */
const server = process.env.SLUICE_TEST_MYSQL ?? "mysql://root@127.0.0.1:3306";
const [, user = "root", host = "127.0.0.1", port = "3306"] =
  /^mysql:\/\/([^@]*)@([^:/]+):?(\d*)/.exec(server) ?? [];
const connect = (database?: string) =>
  mysql.createConnection({
    host,
    port: Number(port || 3306),
    user,
    ...(database ? { database } : {}),
    connectTimeout: 3000,
  });

const available = await serviceAvailable(`MySQL/MariaDB at ${server}`, async () => {
  await (await connect()).end();
});

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

describe.skipIf(!available)("MySQL/MariaDB database source", () => {
  const database = `sluice_src_${randomBytes(4).toString("hex")}`;
  const url = `mysql://${user}@${host}:${port || 3306}/${database}`;
  let con: mysql.Connection;
  const project = (source: string, extra = "", target = "target: { table: t, mode: merge, keys: [id] }") =>
    makeProject(`warehouse: duckdb:warehouse.duckdb
pipelines:
  p:
    source: { database: "${url}", ${source} }
${extra}    ${target}
`);

  beforeAll(async () => {
    const admin = await connect();
    await admin.query(`CREATE DATABASE ${database}`);
    await admin.end();
    con = await connect(database);
    await con.query(`CREATE TABLE typed (id int PRIMARY KEY, b bool, u int unsigned, big bigint unsigned,
      d decimal(20,6), f double, dt date, ts timestamp(3) NULL, dtm datetime(6), tm time, y year,
      v varchar(20), j json, e enum('a','b'), bl blob, bt bit(5), uu uuid)`);
    await con.query(`INSERT INTO typed VALUES
      (1, true, 4000000000, 18446744073709551615, 12345678901234.123456, 0.1, '2020-02-29',
       '2024-01-01 10:00:00.123', '2024-01-01 10:00:00.123456', '12:34:56', 2024, 'a"b,c', '{"a": [1, 2]}', 'b',
       x'00ff41', b'10101', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'),
      (2, false, 0, 0, -0.000001, -2.5, '1999-12-31', '1970-01-02 00:00:00', '1000-01-01 00:00:00', '00:00:00', 1901,
       '', '[]', 'a', x'', b'0', NULL),
      (3, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL)`);
  });
  afterAll(async () => {
    await con?.query(`DROP DATABASE IF EXISTS ${database}`).catch(() => undefined);
    await con?.end();
  });

  it("carries every mapped type: values compare equal with the source's, NULL and '' kept apart", async () => {
    const dir = project("table: typed");
    const run = await sluice(["run", "--json"], dir);
    expect(run.stderr).toBe("");
    expect(run.json<RunJson>().runs[0]).toMatchObject({ status: "succeeded", rows: { loaded: 3 } });
    const [source] =
      await con.query(`SELECT id, IF(b IS NULL, NULL, IF(b, 'true', 'false')) AS b, CAST(u AS CHAR) AS u,
      CAST(big AS CHAR) AS big, CAST(d AS CHAR) AS d, CAST(f AS CHAR) AS f, DATE_FORMAT(dt, '%Y-%m-%d') AS dt,
      CAST(UNIX_TIMESTAMP(ts) * 1000 AS SIGNED) AS ts, DATE_FORMAT(dtm, '%Y-%m-%d %H:%i:%s.%f') AS dtm,
      CAST(tm AS CHAR) AS tm, CAST(y AS CHAR) AS y, v, CAST(j AS CHAR) AS j, CAST(e AS CHAR) AS e,
      LOWER(HEX(bl)) AS bl, CAST(bt + 0 AS CHAR) AS bt, CAST(uu AS CHAR) AS uu FROM typed ORDER BY id`);
    const landed = await warehouseRows(
      dir,
      `SELECT id, b::VARCHAR AS b, u::VARCHAR AS u, big::VARCHAR AS big,
      d::VARCHAR AS d, f::VARCHAR AS f, dt::VARCHAR AS dt, epoch_ms(ts)::VARCHAR AS ts,
      strftime(dtm, '%Y-%m-%d %H:%M:%S.%f') AS dtm, tm::VARCHAR AS tm, y::VARCHAR AS y, v, j::VARCHAR AS j,
      e, lower(hex(bl)) AS bl, bt::VARCHAR AS bt, uu::VARCHAR AS uu FROM t ORDER BY id`,
    );
    const norm = (rows: Record<string, unknown>[]) =>
      rows.map((r) =>
        Object.fromEntries(
          Object.entries(r).map(([k, v]) => [
            k,
            v === null ? null : k === "j" ? JSON.stringify(JSON.parse(String(v))) : String(v),
          ]),
        ),
      );
    expect(norm(landed)).toEqual(norm(source as Record<string, unknown>[]));
    const types = await warehouseRows(
      dir,
      "SELECT column_name AS c, data_type AS t FROM information_schema.columns WHERE table_name = 't'",
    );
    expect(Object.fromEntries(types.map((r) => [r.c, r.t]))).toMatchObject({
      b: "BOOLEAN",
      u: "UINTEGER",
      big: "UBIGINT",
      d: "DECIMAL(20,6)",
      ts: "TIMESTAMP WITH TIME ZONE",
      dtm: "TIMESTAMP",
      j: "JSON",
      bl: "BLOB",
      uu: "UUID",
    });
  });

  it("reads incrementally and holds one snapshot while the source is written", async () => {
    await con.query(
      "CREATE TABLE ledger (id int PRIMARY KEY, amount bigint NOT NULL, updated_at datetime(6) NOT NULL)",
    );
    await con.query(
      `INSERT INTO ledger SELECT seq, IF(seq % 2 = 0, 100, -100), '2024-01-01' FROM seq_1_to_20000`,
    );
    // lag: a write whose now(6) was taken before the snapshot but committed after it is read next time.
    const dir = project("table: ledger", "    incremental: { cursor: updated_at, lag: 5s }\n");
    const writer = await connect(database);
    let writing = true;
    let writes = 0;
    const writing$ = (async () => {
      let next = 20001;
      while (writing) {
        await writer.query("START TRANSACTION");
        await writer.query("UPDATE ledger SET amount = amount - 7, updated_at = now(6) WHERE id = ?", [
          1 + (next % 1000),
        ]);
        await writer.query("UPDATE ledger SET amount = amount + 7, updated_at = now(6) WHERE id = ?", [
          2001 + (next % 1000),
        ]);
        await writer.query("INSERT INTO ledger VALUES (?, 5, now(6)), (?, -5, now(6))", [next, next + 1]);
        await writer.query("COMMIT");
        next += 2;
        writes++;
        await sleep(5);
      }
    })();
    try {
      const first = (await sluice(["run", "--json"], dir, { timeoutMs: 150_000 })).json<RunJson>().runs[0]!;
      expect(first.status).toBe("succeeded");
      const [sum] = await warehouseRows(dir, "SELECT sum(amount)::VARCHAR AS total FROM t");
      expect(sum!.total).toBe("0");
    } finally {
      writing = false;
      await writing$;
      await writer.end();
    }
    expect(writes).toBeGreaterThan(0);
    const second = (await sluice(["run", "--json"], dir)).json<RunJson>().runs[0]!;
    expect(second.status).toBe("succeeded");
    const [[counts]] = (await con.query(
      "SELECT CAST(count(*) AS CHAR) AS n, CAST(sum(amount) AS CHAR) AS total FROM ledger",
    )) as unknown as [Record<string, string>[]];
    const [landed] = await warehouseRows(
      dir,
      "SELECT count(*)::VARCHAR AS n, sum(amount)::VARCHAR AS total FROM t",
    );
    expect(landed).toEqual(counts);
    // A third run re-reads only the lag window; merged by key, nothing is doubled.
    const third = (await sluice(["run", "--json"], dir)).json<RunJson>().runs[0]!;
    expect(third.rows.loaded).toBeLessThan(second.rows.loaded + 1);
    const [again] = await warehouseRows(
      dir,
      "SELECT count(*)::VARCHAR AS n, sum(amount)::VARCHAR AS total FROM t",
    );
    expect(again).toEqual(counts);
  }, 180_000);

  it("a wrong password is one clear line, and is nowhere: output, runs --json, logs, warehouse", async () => {
    const secret = "pw-Mx93k";
    const dir = makeProject(`warehouse: duckdb:warehouse.duckdb
pipelines:
  p:
    source: { database: "mysql://${user}:$\{SRC_PW}@${host}:${port || 3306}/${database}", table: typed }
    target: { table: t }
`);
    const env = { SRC_PW: secret };
    const run = await sluice(["run"], dir, { env });
    expect(run.code).toBe(1);
    expect(run.stdout + run.stderr).toMatch(
      /authentication failed.*check the user and password in source\.database/,
    );
    const runs = await sluice(["runs", "--json"], dir, { env });
    for (const text of [run.stdout, run.stderr, runs.stdout, runs.stderr]) expect(text).not.toContain(secret);
    expect(filesHolding(dir, secret)).toEqual([]);
  });
});
