import { DuckDBInstance } from "@duckdb/node-api";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { keysRepeat } from "../../src/engine/keys-repeat.js";
import { dedupeRepeatCounts, keyBitmapSql, keyStatsSql } from "../../src/plan/dedupe.js";

// The repeat counts' aggregates run on DuckDB: whether a key repeats among the rows `where` keeps.
describe("dedupeRepeatCounts", () => {
  let instance: DuckDBInstance;
  const repeats = async (keys: string[], rows: string, where?: string): Promise<boolean> => {
    const con = await instance.connect();
    try {
      const counts = dedupeRepeatCounts({ keys }, where);
      const reader = await con.runAndReadAll(
        `SELECT ${counts.aggregates.join(", ")} FROM (VALUES ${rows}) AS t(a, b, flagged)`,
      );
      return counts.repeats(reader.getRowObjectsJson()[0]!);
    } finally {
      con.closeSync();
    }
  };
  beforeAll(async () => {
    instance = await DuckDBInstance.create(":memory:");
  });
  afterAll(() => instance.closeSync());

  it("sees a repeated key among the kept rows, and only there", async () => {
    expect(await repeats(["a"], "(1, 'x', false), (2, 'x', false), (3, 'x', false)")).toBe(false);
    expect(await repeats(["a"], "(1, 'x', false), (1, 'y', false)")).toBe(true);
    // The repeat is in a flagged row, which the dedupe never sees.
    expect(await repeats(["a"], "(1, 'x', false), (1, 'y', true), (2, 'z', false)", "NOT flagged")).toBe(
      false,
    );
    expect(await repeats(["a"], "(1, 'x', false), (1, 'y', false), (2, 'z', true)", "NOT flagged")).toBe(
      true,
    );
  });

  it("treats NULL keys as equal to each other", async () => {
    expect(await repeats(["a"], "(NULL, 'x', false), (1, 'y', false)")).toBe(false);
    expect(await repeats(["a"], "(NULL, 'x', false), (NULL, 'y', false)")).toBe(true);
    expect(await repeats(["a"], "(NULL, 'x', false), (NULL, 'y', true)", "NOT flagged")).toBe(false);
  });

  it("compares several keys together", async () => {
    expect(await repeats(["a", "b"], "(1, 'x', false), (1, 'y', false), (2, 'x', false)")).toBe(false);
    expect(await repeats(["a", "b"], "(1, 'x', false), (1, 'x', false)")).toBe(true);
    expect(await repeats(["a", "b"], "(1, NULL, false), (1, NULL, false)")).toBe(true);
    expect(await repeats(["a", "b"], "(1, 'x', false), (1, 'x', true)", "NOT flagged")).toBe(false);
  });
});

// After a write with checks in it the keys are checked over the written rows: a bitmap for one integer key with a
// small enough range, a distinct count otherwise. Both must agree with the dedupe's notion of a repeat.
describe("keysRepeat", () => {
  let instance: DuckDBInstance;
  beforeAll(async () => {
    instance = await DuckDBInstance.create(":memory:");
  });
  afterAll(() => instance.closeSync());

  const repeats = async (type: string, values: string, keys = ["k"]): Promise<boolean> => {
    const con = await instance.connect();
    try {
      await con.run(
        `CREATE OR REPLACE TEMP TABLE t AS SELECT CAST(k AS ${type}) AS k, CAST(k AS VARCHAR) AS s FROM (VALUES ${values}) AS v(k)`,
      );
      const columns = [
        { name: "k", type },
        { name: "s", type: "VARCHAR" },
      ];
      return await keysRepeat(con, "t", keys, columns);
    } finally {
      con.closeSync();
    }
  };

  it.each(["BIGINT", "INTEGER", "SMALLINT", "UBIGINT", "VARCHAR", "DOUBLE"])("%s keys", async (type) => {
    expect(await repeats(type, "(1), (2), (3), (10)")).toBe(false);
    expect(await repeats(type, "(1), (2), (3), (2)")).toBe(true);
    expect(await repeats(type, "(1), (NULL), (3)")).toBe(false);
    expect(await repeats(type, "(1), (NULL), (3), (NULL)")).toBe(true);
    expect(await repeats(type, "(NULL), (NULL)")).toBe(true);
    expect(await repeats(type, "(7)")).toBe(false);
  });

  it("negative and extreme integer keys; a range too wide for a bitmap falls back to a distinct count", async () => {
    expect(await repeats("BIGINT", "(-5), (0), (5), (-4)")).toBe(false);
    expect(await repeats("BIGINT", "(-5), (0), (5), (-5)")).toBe(true);
    const wide = "(-9223372036854775808), (9223372036854775807)";
    expect(keyBitmapSql('"t"', "k", -(2n ** 63n), 2n ** 63n - 1n)).toBeUndefined();
    expect(await repeats("BIGINT", wide)).toBe(false);
    expect(await repeats("BIGINT", `${wide}, (9223372036854775807)`)).toBe(true);
    expect(await repeats("UBIGINT", "(18446744073709551615), (0), (18446744073709551615)")).toBe(true);
  });

  it("the bitmap counts exactly what count(DISTINCT) counts on a larger batch", async () => {
    const con = await instance.connect();
    try {
      await con.run(
        "CREATE OR REPLACE TEMP TABLE big AS SELECT (i * 7919) % 100003 AS k FROM range(100000) r(i)",
      );
      const stats = (await con.runAndReadAll(keyStatsSql('"big"', "k"))).getRowObjectsJson()[0]!;
      const bitmap = keyBitmapSql('"big"', "k", BigInt(String(stats.min)), BigInt(String(stats.max)))!;
      const bits = (await con.runAndReadAll(bitmap)).getRowObjectsJson()[0]!.distinct_keys;
      const exact = (
        await con.runAndReadAll("SELECT count(DISTINCT k) AS n FROM big")
      ).getRowObjectsJson()[0]!.n;
      expect(String(bits)).toBe(String(exact));
    } finally {
      con.closeSync();
    }
  });

  it("keys of several columns use a distinct count", async () => {
    expect(await repeats("BIGINT", "(1), (2)", ["k", "s"])).toBe(false);
    expect(await repeats("BIGINT", "(1), (1)", ["k", "s"])).toBe(true);
  });
});
