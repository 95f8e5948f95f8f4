import { randomBytes } from "node:crypto";
import mysql from "mysql2/promise";
import pg from "pg";
import { afterAll, describe, expect, it } from "vitest";
import { makeProject, type RunJson, sluice } from "../support/cli.js";
import { nestedOrders } from "../support/nested-orders.js";
import { createTestDatabase, pgServer, pingPostgres } from "../support/postgres.js";
import { serviceAvailable } from "../support/require-service.js";
import { deleteRedisKeys, publishRedis, redisAvailable, redisUrl, uniqueName } from "../support/streams.js";

/** `nested:` for sources that are not JSON files: database JSON columns and stream messages. */

const mysqlServer = process.env.SLUICE_TEST_MYSQL ?? "mysql://root@127.0.0.1:3306";
const [, mysqlUser = "root", mysqlHost = "127.0.0.1", mysqlPort = "3306"] =
  /^mysql:\/\/([^@]*)@([^:/]+):?(\d*)/.exec(mysqlServer) ?? [];
const mysqlConnect = (database?: string) =>
  mysql.createConnection({
    host: mysqlHost,
    port: Number(mysqlPort || 3306),
    user: mysqlUser,
    ...(database ? { database } : {}),
    connectTimeout: 3000,
  });

const pgAvailable = await serviceAvailable(`PostgreSQL at ${pgServer}`, pingPostgres);
const mysqlAvailable = await serviceAvailable(`MySQL/MariaDB at ${mysqlServer}`, async () => {
  await (await mysqlConnect()).end();
});
const redisUp = await redisAvailable();

async function query(dir: string, sql: string): Promise<Record<string, unknown>[]> {
  const r = await sluice(["query", sql, "--json"], dir);
  expect(r.code, r.stderr).toBe(0);
  return r.json<Record<string, unknown>[]>();
}

async function run(dir: string): Promise<RunJson["runs"]> {
  const r = await sluice(["run", "--json"], dir, { env: { SLUICE_MASK_SALT: "salt" } });
  expect(r.code, r.stdout + r.stderr).toBe(0);
  return r.json<RunJson>().runs;
}

/** Two pipelines over one source: `flat` flattens, `orders` splits into child tables and masks a child path. */
function project(source: string): string {
  return makeProject(`warehouse: duckdb:warehouse.duckdb
landing: landing
pipelines:
  flat:
    source: ${source}
    nested: { mode: flatten, max_depth: 3 }
    columns:
      customer.email: { mask: email }
    target: { table: flat }
  orders:
    source: ${source}
    nested: { mode: tables }
    columns:
      items.discounts.code: { mask: hash }
    target: { table: orders, mode: merge, keys: [id] }
`);
}

/** What both pipelines must have loaded from {@link nestedOrders}, whatever carried them. */
async function expectNestedOrders(dir: string, flat = true): Promise<void> {
  if (flat) {
    expect(
      await query(
        dir,
        "SELECT id, customer__name AS name, customer__email AS email, customer__address__city AS city, customer__address__geo->>'$.lat' AS lat, json_array_length(items) AS n FROM flat ORDER BY id",
      ),
    ).toEqual([
      { id: 1, name: "Ann", email: "a***@example.com", city: "Oslo", lat: "59.9", n: 2 },
      { id: 2, name: "Bob", email: "b***@example.com", city: "Bergen", lat: null, n: 1 },
    ]);
  }
  expect(
    await query(
      dir,
      "SELECT id, customer__address__city AS city, customer__address__geo__lat AS lat FROM orders ORDER BY id",
    ),
  ).toEqual([
    { id: 1, city: "Oslo", lat: 59.9 },
    { id: 2, city: "Bergen", lat: null },
  ]);
  expect(
    await query(
      dir,
      "SELECT o.id, i.sku, i.qty, i._sluice_list_idx AS idx FROM orders__items i JOIN orders o ON o._sluice_id = i._sluice_parent_id ORDER BY o.id, idx",
    ),
  ).toEqual([
    { id: 1, sku: "A-1", qty: 2, idx: 0 },
    { id: 1, sku: "B-2", qty: 1, idx: 1 },
    { id: 2, sku: "C-3", qty: 5, idx: 0 },
  ]);
  const discounts = await query(
    dir,
    "SELECT o.id, i.sku, length(d.code) AS len, d.pct FROM orders__items__discounts d JOIN orders__items i ON i._sluice_id = d._sluice_parent_id JOIN orders o ON o._sluice_id = d._sluice_root_id ORDER BY o.id, d.pct DESC",
  );
  expect(discounts).toEqual([
    { id: 1, sku: "A-1", len: 64, pct: 10 },
    { id: 2, sku: "C-3", len: 64, pct: 5 },
    { id: 2, sku: "C-3", len: 64, pct: 2 },
  ]);
  expect(
    await query(
      dir,
      "SELECT o.id, t.value FROM orders__tags t JOIN orders o ON o._sluice_id = t._sluice_parent_id ORDER BY o.id, t._sluice_list_idx",
    ),
  ).toEqual([
    { id: 1, value: "new" },
    { id: 1, value: "vip" },
  ]);
  const everything = JSON.stringify(await query(dir, "SELECT * FROM orders__items__discounts"));
  for (const secret of ["SPRING", "BULK", "VIP"]) expect(everything).not.toContain(secret);
}

describe.skipIf(!pgAvailable)("nested: PostgreSQL jsonb and json columns", () => {
  it("flatten and tables read a database source's JSON columns like a JSON file's objects", async () => {
    const db = await createTestDatabase();
    try {
      const client = new pg.Client({ connectionString: db.url });
      await client.connect();
      await client.query("CREATE TABLE src (id int PRIMARY KEY, customer jsonb, items json, tags jsonb)");
      for (const o of nestedOrders) {
        await client.query("INSERT INTO src VALUES ($1, $2, $3, $4)", [
          o.id,
          JSON.stringify(o.customer),
          JSON.stringify(o.items),
          JSON.stringify(o.tags),
        ]);
      }
      await client.end();
      const dir = project(`{ database: "${db.url}", table: src }`);
      const runs = await run(dir);
      expect(runs.map((r) => r.status)).toEqual(["succeeded", "succeeded"]);
      await expectNestedOrders(dir);
    } finally {
      await db.cleanup();
    }
  });
});

describe.skipIf(!mysqlAvailable)("nested: MySQL/MariaDB JSON columns", () => {
  it("flatten and tables read a JSON column like a JSON file's objects", async () => {
    const database = `sluice_nested_${randomBytes(4).toString("hex")}`;
    const admin = await mysqlConnect();
    await admin.query(`CREATE DATABASE ${database}`);
    try {
      const con = await mysqlConnect(database);
      await con.query("CREATE TABLE src (id int PRIMARY KEY, customer json, items json, tags json)");
      for (const o of nestedOrders) {
        await con.query("INSERT INTO src VALUES (?, ?, ?, ?)", [
          o.id,
          JSON.stringify(o.customer),
          JSON.stringify(o.items),
          JSON.stringify(o.tags),
        ]);
      }
      await con.end();
      const url = `mysql://${mysqlUser}@${mysqlHost}:${mysqlPort || 3306}/${database}`;
      const dir = project(`{ database: "${url}", query: "select * from src" }`);
      const runs = await run(dir);
      expect(runs.map((r) => r.status)).toEqual(["succeeded", "succeeded"]);
      await expectNestedOrders(dir);
    } finally {
      await admin.query(`DROP DATABASE ${database}`);
      await admin.end();
    }
  });
});

describe.skipIf(!redisUp)("nested: stream messages (Redis Streams)", () => {
  const key = uniqueName("sluice_nested_stream");
  afterAll(async () => {
    await deleteRedisKeys([key]);
  });

  it("tables splits each message's arrays into child tables", async () => {
    await publishRedis(
      key,
      nestedOrders.map((o) => JSON.stringify(o)),
    );
    const dir = makeProject(`warehouse: duckdb:warehouse.duckdb
landing: landing
pipelines:
  orders:
    source:
      stream: { kind: redis, url: "${redisUrl}", key: "${key}", group: sluice }
      batch: { max_rows: 100, max_wait: 300ms }
    nested: { mode: tables }
    columns:
      items.discounts.code: { mask: hash }
    target: { table: orders, mode: merge, keys: [id] }
`);
    const r = await sluice(["worker", "--exit-when-idle", "1s"], dir, { env: { SLUICE_MASK_SALT: "salt" } });
    expect(r.code, r.stderr).toBe(0);
    await expectNestedOrders(dir, false);
  });
});
