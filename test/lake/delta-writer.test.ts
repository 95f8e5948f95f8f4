import { readdir, readFile, rm } from "node:fs/promises";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { SluiceError } from "../../src/errors.js";
import { loadSnapshot, registerDeltaView, writeDelta } from "../../src/lake/index.js";
import { localStorage } from "../../src/storage/local-storage.js";
import { useMemoryDuckdb } from "../support/memory-duckdb.js";

const db = useMemoryDuckdb("sluice-delta-writer-");

async function scalar(sql: string): Promise<unknown> {
  return (await db.con.runAndReadAll(sql)).getRows()[0]![0];
}

const ORDERS = `SELECT range::BIGINT AS order_id, 'c' || (range % 7) AS customer, (range * 1.5)::DECIMAL(12,2) AS amount,
  DATE '2023-01-01' + (range % 700)::INTEGER AS order_date, TIMESTAMP '2024-01-01 10:00:00' + to_seconds(range) AS updated_at,
  year(DATE '2023-01-01' + (range % 700)::INTEGER) AS order_year FROM range(1000)`;

describe("writeDelta", () => {
  it("writes a partitioned table that reads back through the view and plain read_parquet", async () => {
    const table = { storage: localStorage(db.dir), path: "orders" };
    const result = await writeDelta(db.con, table, ORDERS, {
      partitionBy: ["order_year"],
      appId: "orders",
      txnVersion: 1,
    });
    expect(result).toMatchObject({ version: 0, skipped: false, rowsWritten: 1000 });
    expect(await readdir(join(db.dir, "orders"))).toEqual(
      expect.arrayContaining(["order_year=2023", "order_year=2024", "_delta_log"]),
    );
    const log = (await readFile(join(db.dir, "orders/_delta_log/00000000000000000000.json"), "utf8"))
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l));
    const meta = log.find((a) => a.metaData).metaData;
    expect(meta.partitionColumns).toEqual(["order_year"]);
    const schema = JSON.parse(meta.schemaString);
    expect(schema.fields.map((f: { type: unknown }) => f.type)).toEqual([
      "long",
      "string",
      "decimal(12,2)",
      "date",
      "timestamp",
      "long",
    ]);
    const add = log.find((a) => a.add).add;
    const stats = JSON.parse(add.stats);
    expect(stats.numRecords).toBeGreaterThan(0);
    expect(stats.minValues.order_id).toBeTypeOf("number");
    expect(stats.nullCount.customer).toBe(0);
    expect(log.find((a) => a.txn).txn).toMatchObject({ appId: "orders", version: 1 });

    await registerDeltaView(db.con, table, "orders_v");
    expect(
      await scalar(
        `SELECT count(*) FROM (SELECT * EXCLUDE (updated_at) FROM orders_v EXCEPT ALL SELECT * EXCLUDE (updated_at) FROM (${ORDERS}))`,
      ),
    ).toBe(0n);
    expect(await scalar("SELECT count(*) FROM orders_v")).toBe(1000n);
    const snap = await loadSnapshot(db.con, table);
    const files = snap.files.map((f) => `'${join(db.dir, "orders", decodeURIComponent(f.path))}'`).join(",");
    expect(await scalar(`SELECT sum(amount)::VARCHAR FROM read_parquet([${files}])`)).toBe(
      await scalar(`SELECT sum(amount)::VARCHAR FROM (${ORDERS})`),
    );
  });

  it("skips a re-run with an already committed txn version", async () => {
    const table = { storage: localStorage(db.dir), path: "orders" };
    const again = await writeDelta(db.con, table, ORDERS, { appId: "orders", txnVersion: 1 });
    expect(again).toMatchObject({ skipped: true, version: null });
    expect((await loadSnapshot(db.con, table)).version).toBe(0);
  });

  it("overwrites, replaces partitions and merges by key", async () => {
    const table = { storage: localStorage(db.dir), path: "modes" };
    await writeDelta(db.con, table, "SELECT range AS id, range % 3 AS p, 'v0' AS v FROM range(30)", {
      partitionBy: ["p"],
    });
    await writeDelta(db.con, table, "SELECT 100 + range AS id, 1 AS p, 'r' AS v FROM range(5)", {
      mode: "replace_partitions",
    });
    await registerDeltaView(db.con, table, "modes_v");
    expect(await scalar("SELECT count(*) FROM modes_v WHERE p = 1")).toBe(5n);
    expect(await scalar("SELECT count(*) FROM modes_v")).toBe(25n);
    const merged = await writeDelta(
      db.con,
      table,
      "SELECT * FROM (VALUES (0, 0, 'm'), (999, 2, 'new')) t(id, p, v)",
      { mode: "merge", keys: ["id"] },
    );
    expect(merged.filesRemoved).toBe(1);
    await registerDeltaView(db.con, table, "modes_v");
    expect(await scalar("SELECT count(*) FROM modes_v")).toBe(26n);
    expect(await scalar("SELECT v FROM modes_v WHERE id = 0")).toBe("m");
    expect(await scalar("SELECT count(*) FROM modes_v WHERE id = 3 AND v = 'v0'")).toBe(1n);
    await writeDelta(db.con, table, "SELECT 7 AS id, 0 AS p, 'o' AS v", { mode: "overwrite" });
    await registerDeltaView(db.con, table, "modes_v");
    expect(await scalar("SELECT count(*) FROM modes_v")).toBe(1n);
    await registerDeltaView(db.con, table, "modes_old", { version: 0 });
    expect(await scalar("SELECT count(*) FROM modes_old")).toBe(30n);
  });

  it("evolves the schema: new columns read as NULL in older files", async () => {
    const table = { storage: localStorage(db.dir), path: "evolve" };
    await writeDelta(db.con, table, "SELECT 1 AS id");
    const r = await writeDelta(db.con, table, "SELECT 2 AS id, 'x' AS extra");
    expect(r.version).toBe(1);
    await registerDeltaView(db.con, table, "evolve_v");
    const rows = (await db.con.runAndReadAll("SELECT id, extra FROM evolve_v ORDER BY id")).getRows();
    expect(rows).toEqual([
      [1, null],
      [2, "x"],
    ]);
  });

  it("round-trips partition values with / = spaces and unicode", async () => {
    const table = { storage: localStorage(db.dir), path: "special" };
    const values = ["a/b", "x=y", "sp ace", "ünïcødé", "50%", null];
    const sql = `SELECT * FROM (VALUES ${values.map((v, i) => `(${i}, ${v === null ? "NULL" : `'${v}'`})`).join(", ")}) t(id, k)`;
    await writeDelta(db.con, table, sql, { partitionBy: ["k"] });
    await registerDeltaView(db.con, table, "special_v");
    const rows = (await db.con.runAndReadAll("SELECT id, k FROM special_v ORDER BY id")).getRows();
    expect(rows.map((r) => r[1])).toEqual(values);
    const snap = await loadSnapshot(db.con, table);
    expect(snap.files.find((f) => f.partitionValues.k === "a/b")!.path).toMatch(/^k=a%252Fb\//);
  });

  it("writes a checkpoint every 10 commits and reads through it", async () => {
    const table = { storage: localStorage(db.dir), path: "ckpt" };
    for (let i = 0; i < 12; i++) await writeDelta(db.con, table, `SELECT ${i} AS id`);
    const names = await readdir(join(db.dir, "ckpt/_delta_log"));
    expect(names).toContain("00000000000000000010.checkpoint.parquet");
    expect(JSON.parse(await readFile(join(db.dir, "ckpt/_delta_log/_last_checkpoint"), "utf8")).version).toBe(
      10,
    );
    await rm(join(db.dir, "ckpt/_delta_log/00000000000000000003.json"));
    await registerDeltaView(db.con, table, "ckpt_v");
    expect(await scalar("SELECT sum(id) FROM ckpt_v")).toBe(66n);
  });

  it("rejects a log entry that is not JSON with LAKE_ERROR", async () => {
    const table = { storage: localStorage(db.dir), path: "badlog" };
    await writeDelta(db.con, table, "SELECT 1 AS id");
    await localStorage(db.dir).writeFile("badlog/_delta_log/00000000000000000001.json", "{not json\n");
    const error = await registerDeltaView(db.con, table, "bad_v").catch((e: unknown) => e);
    expect(error).toBeInstanceOf(SluiceError);
    expect((error as SluiceError).code).toBe("LAKE_ERROR");
    expect((error as SluiceError).message).toContain("00000000000000000001.json: line 1 is not valid JSON");
  });
});
