import { describe, expect, test } from "vitest";
import { detectAnomalies } from "../../src/plan/anomalies.js";
import type { ColumnProfile, Profile } from "../../src/plan/profile.js";

const col = (nulls: number, mean: number | null): ColumnProfile => ({
  nulls,
  distinct: 10,
  min: null,
  max: null,
  mean,
  stddev: null,
  min_length: null,
  max_length: null,
});
const profile = (rows: number, nulls: number, mean: number | null, code = 0): Profile => ({
  rows,
  columns: { amount: col(nulls, mean), code: col(code, null) },
});

describe("detectAnomalies", () => {
  const history = [
    profile(1000, 10, 50),
    profile(1010, 12, 51),
    profile(990, 9, 49),
    profile(1005, 11, 50.5),
    profile(995, 10, 49.5),
  ];

  test("a normal batch has no anomalies", () => {
    expect(detectAnomalies(profile(1002, 10, 50.2), history)).toEqual([]);
  });

  test("row count, null share and mean beyond the z threshold", () => {
    const found = detectAnomalies(profile(20, 10, 500), history);
    expect(found.map((a) => [a.metric, a.column])).toEqual([
      ["row_count", null],
      ["null_share", "amount"],
      ["mean", "amount"],
    ]);
    expect(found[0]!.expected).toBe(1000);
    expect(found[0]!.z).toBeLessThan(-3);
    expect(found[0]!.message).toMatch(
      /^row count is 20, expected about 1000 ± 7\.9\d* \(z-score -12\d\.\d, limit 3, last 5 runs\)$/,
    );
  });

  test("needs at least three history points and uses only the last ten", () => {
    expect(detectAnomalies(profile(5, 0, 1), history.slice(0, 2))).toEqual([]);
    const long = [
      ...Array.from({ length: 20 }, () => profile(10, 0, 1)),
      ...Array.from({ length: 10 }, (_, i) => profile(1000 + i, 0, 1)),
    ];
    expect(detectAnomalies(profile(1005, 0, 1), long)).toEqual([]);
  });

  test("constant history: any change is an anomaly with z null, no change is fine", () => {
    const flat = [profile(100, 0, 5), profile(100, 0, 5), profile(100, 0, 5)];
    expect(detectAnomalies(profile(100, 0, 5), flat)).toEqual([]);
    const found = detectAnomalies(profile(101, 0, 5), flat);
    expect(found).toEqual([
      {
        metric: "row_count",
        column: null,
        value: 101,
        expected: 100,
        stddev: 0,
        z: null,
        message: "row count is 101, it was always 100 in the last 3 runs",
      },
    ]);
    expect(detectAnomalies(profile(100, 0, 5, 40), flat).map((a) => [a.metric, a.column, a.message])).toEqual(
      [["null_share", "code", "code null share is 0.4, it was always 0 in the last 3 runs"]],
    );
  });

  test("a threshold can be given", () => {
    expect(detectAnomalies(profile(1020, 10, 50), history, 1).map((a) => a.metric)).toEqual(["row_count"]);
  });
});
