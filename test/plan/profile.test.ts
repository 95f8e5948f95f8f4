import { describe, expect, test } from "vitest";
import {
  DISTINCT_MIN_SAMPLE,
  DISTINCT_SAMPLE_SIZE,
  distinctMethod,
  exactDistinctSql,
  profileSql,
  readProfile,
  statsDistinctGuess,
  thinDistinctSamples,
} from "../../src/plan/profile.js";

const columns = [
  { name: "id", type: "BIGINT" },
  { name: "status", type: "VARCHAR" },
  { name: "_sluice_run_id", type: "VARCHAR" },
];

describe("distinct counting method", () => {
  test("exact up to twice the sample size, a hash sample of about the sample size above", () => {
    expect(distinctMethod(0)).toEqual({ kind: "exact" });
    expect(distinctMethod(2 * DISTINCT_SAMPLE_SIZE)).toEqual({ kind: "exact" });
    expect(distinctMethod(2 * DISTINCT_SAMPLE_SIZE + 1)).toEqual({ kind: "sample", bits: 1 });
    expect(distinctMethod(5_000_000)).toEqual({ kind: "sample", bits: 9 });
    // Whatever the guess, the expected sample stays between the size and twice it.
    for (const guess of [20_000, 123_456, 9_999_999, 4e12]) {
      const m = distinctMethod(guess);
      if (m.kind !== "sample") throw new Error("expected a sample");
      expect(guess / 2 ** m.bits).toBeGreaterThanOrEqual(DISTINCT_SAMPLE_SIZE);
      expect(guess / 2 ** m.bits).toBeLessThan(2 * DISTINCT_SAMPLE_SIZE);
    }
  });

  test("exact when nothing tells how many values to expect", () => {
    expect(distinctMethod(undefined)).toEqual({ kind: "exact" });
    expect(distinctMethod(Number.NaN)).toEqual({ kind: "exact" });
  });

  test("reads the guess from DuckDB's stats() rendering", () => {
    expect(
      statsDistinctGuess("[Min: a, Max: b][Has Null: false, Has No Null: true][Approx Unique: 170210]"),
    ).toBe(170210);
    expect(statsDistinctGuess("[Has Null: true, Has No Null: true]")).toBeUndefined();
    expect(statsDistinctGuess(null)).toBeUndefined();
  });
});

describe("profileSql distinct counts", () => {
  test("counts each column with its method; bookkeeping columns are not profiled", () => {
    const sql = profileSql("t", columns, { distinct: [{ kind: "sample", bits: 3 }, { kind: "exact" }] });
    expect(sql).toContain(
      `'distinct': count(DISTINCT hash("id")) FILTER (WHERE "id" IS NOT NULL AND hash("id") < ${2n ** 61n}::UBIGINT)`,
    );
    expect(sql).toContain(`'distinct': count(DISTINCT "status")`);
    expect(sql).not.toContain("approx_count_distinct");
    expect(sql).not.toContain("_sluice_run_id");
    expect(profileSql("t", columns)).toContain(`'distinct': count(DISTINCT "status")`);
  });

  test("scales a sampled count and flags a sample too thin to trust", () => {
    const distinct = [{ kind: "sample", bits: 4 } as const, { kind: "sample", bits: 2 } as const];
    const row = { rows: 1000000, p0: { nulls: 0, distinct: 4000 }, p1: { nulls: 0, distinct: 3 } };
    const profile = readProfile(columns, row, distinct);
    expect(profile.columns.id?.distinct).toBe(64000);
    expect(profile.columns.status?.distinct).toBe(12);
    expect(thinDistinctSamples(columns, row, distinct)).toEqual(["status"]);
    const enough = { ...row, p1: { nulls: 0, distinct: DISTINCT_MIN_SAMPLE } };
    expect(thinDistinctSamples(columns, enough, distinct)).toEqual([]);
    // An exact count is never recounted, however small.
    expect(thinDistinctSamples(columns, row, [{ kind: "exact" }, { kind: "exact" }])).toEqual([]);
    expect(exactDistinctSql("v", ["status", "a b"])).toBe(
      `SELECT count(DISTINCT "status") AS "d0", count(DISTINCT "a b") AS "d1" FROM "v"`,
    );
  });
});
