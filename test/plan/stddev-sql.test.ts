import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { stddevSql } from "../../src/plan/stddev-sql.js";
import { openStageDb, type StageDb } from "../quality/stage-db.js";

let db: StageDb;
beforeAll(async () => {
  db = await openStageDb();
});
afterAll(() => db.close());

/** stddevSql over the given DOUBLE literals (SQL text such as '1e300' or 'NULL'). */
async function stddevOf(values: readonly string[]): Promise<number | null> {
  const rows = values.map((v) => `(CAST(${v} AS DOUBLE))`).join(", ");
  const [row] = await db.rows(`SELECT ${stddevSql('"x"')} AS sd FROM (VALUES ${rows}) AS v("x")`);
  return row!.sd === null ? null : Number(row!.sd);
}

/** The textbook sample standard deviation, in JavaScript with values scaled to stay finite. */
function reference(values: readonly number[]): number {
  const scale = Math.max(...values.map(Math.abs)) || 1;
  const scaled = values.map((v) => v / scale);
  const mean = scaled.reduce((a, b) => a + b, 0) / scaled.length;
  const variance = scaled.reduce((a, b) => a + (b - mean) ** 2, 0) / (scaled.length - 1);
  return Math.sqrt(variance) * scale;
}

describe("stddevSql", () => {
  test("equals stddev_samp on ordinary values", async () => {
    const values = [10, 11, 9, 10, 10, 12, 8, 10, 10, 1000, 0.001, -3.5];
    const [plain] = await db.rows(
      `SELECT stddev_samp(x) AS sd FROM (VALUES ${values.map((v) => `(CAST(${v} AS DOUBLE))`).join(", ")}) AS v(x)`,
    );
    expect(await stddevOf(values.map(String))).toBe(Number(plain!.sd));
  });

  test("does not fail where stddev_samp overflows, and is right within rounding", async () => {
    // DuckDB's own aggregate throws "STDDEV_SAMP is out of range!" on these.
    await expect(
      db.rows("SELECT stddev_samp(x) FROM (VALUES (-1e300), (1e300), (5.0)) AS v(x)"),
    ).rejects.toThrow(/out of range/i);
    for (const values of [
      [-1e300, 1e300, 5],
      [1.7e308, -1.7e308],
      [1e200, 1e200, 1e200],
      [1e150, 3, -7, 0.25],
    ]) {
      const sd = await stddevOf(values.map(String));
      const expected = reference(values);
      if (!Number.isFinite(expected)) expect(sd).toBe(Number.POSITIVE_INFINITY);
      else expect(Math.abs(sd! - expected)).toBeLessThanOrEqual(Math.abs(expected) * 1e-9);
    }
  });

  test("is NULL for infinities, NaN, a single value or no value", async () => {
    expect(await stddevOf(["'inf'", "1", "2"])).toBeNull();
    expect(await stddevOf(["'-inf'", "1e300"])).toBeNull();
    expect(await stddevOf(["'nan'", "1", "2"])).toBeNull();
    expect(await stddevOf(["42"])).toBeNull();
    expect(await stddevOf(["NULL", "NULL"])).toBeNull();
    expect(await stddevOf(["NULL", "1", "3"])).toBe(Math.SQRT2);
  });
});
