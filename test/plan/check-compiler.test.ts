import { describe, expect, test } from "vitest";
import { type CheckConfig, checkSchema } from "../../src/config/schema.js";
import { compileChecks, durationMs, interpretSummary } from "../../src/plan/check-compiler.js";
import { defaultCheckName } from "../../src/plan/check-rules.js";

const parse = (raw: readonly Record<string, unknown>[]): CheckConfig[] =>
  raw.map((c) => checkSchema.parse(c));
const columns = [
  { name: "order_id", type: "BIGINT" },
  { name: "email", type: "VARCHAR" },
  { name: "amount", type: "DECIMAL(12,2)" },
  { name: "_sluice_row", type: "BIGINT" },
];

describe("compileChecks", () => {
  test("default names, name overrides and clash suffixes", () => {
    const checks = parse([
      { rule: "not_null", columns: ["order_id", "amount"] },
      { rule: "unique", columns: ["order_id"] },
      { rule: "range", column: "amount", min: 0 },
      { rule: "range", column: "amount", max: 10 },
      { rule: "regex", column: "email", pattern: "@" },
      { rule: "expression", name: "not_in_future", sql: "amount < 5" },
      { rule: "expression", sql: "amount\n  <   5" },
      { rule: "row_count", min: 1 },
      { rule: "completeness", column: "email", min: 0.9, severity: "warn" },
      { rule: "schema", columns: ["order_id"] },
    ]);
    const plan = compileChecks({ checks, columns, stageTable: "stage" });
    expect(plan.rules.map((r) => [r.index, r.name, r.rule, r.severity, r.level])).toEqual([
      [0, "not_null(order_id,amount)", "not_null", "error", "row"],
      [1, "unique(order_id)", "unique", "error", "row"],
      [2, "range(amount)", "range", "error", "row"],
      [3, "range(amount)#2", "range", "error", "row"],
      [4, "regex(email)", "regex", "error", "row"],
      [5, "not_in_future", "expression", "error", "row"],
      [6, "expression:amount < 5", "expression", "error", "row"],
      [7, "row_count", "row_count", "error", "dataset"],
      [8, "completeness(email)", "completeness", "warn", "dataset"],
      [9, "schema", "schema", "error", "dataset"],
    ]);
    expect(plan.outTable).toBe("stage_checked");
    expect(defaultCheckName(checks[6]!)).toBe("expression:amount < 5");
  });

  test("flagsSql is one CREATE statement reading the stage once for value rules", () => {
    const checks = parse([
      { rule: "not_null", columns: ["order_id"] },
      { rule: "range", column: "amount", min: 0, where: "email IS NOT NULL" },
      { rule: "regex", column: "email", pattern: "it's" },
    ]);
    const plan = compileChecks({ checks, columns, stageTable: "stage", outTable: "flags" });
    expect(plan.flagsSql.startsWith('CREATE TEMP TABLE "flags" AS SELECT * EXCLUDE (')).toBe(true);
    expect(plan.flagsSql.match(/FROM "stage"/g)).toHaveLength(1);
    expect(plan.flagsSql).toContain("'it''s'");
    expect(plan.flagsSql).toContain("(email IS NOT NULL) AND (");
    expect(plan.summarySql.startsWith('SELECT count(*) AS "rows"')).toBe(true);
    expect(plan.summarySql.endsWith('FROM "flags"')).toBe(true);
  });

  test("no row rules still produces the flag columns", () => {
    const plan = compileChecks({ checks: [], columns, stageTable: "s" });
    expect(plan.flagsSql).toBe(
      'CREATE TEMP TABLE "s_checked" AS SELECT *, CAST([] AS VARCHAR[]) AS "_sluice_failed_rules", ' +
        'CAST([] AS VARCHAR[]) AS "_sluice_reasons", FALSE AS "_sluice_quarantined" FROM "s"',
    );
  });

  test("configuration errors name the config path", () => {
    const compile = (raw: Record<string, unknown>) => () =>
      compileChecks({
        checks: parse([{ rule: "not_null", columns: ["order_id"] }, raw]),
        columns,
        stageTable: "s",
      });
    expect(compile({ rule: "range", column: "amout", min: 0 })).toThrow(
      'checks[1].column: column "amout" is not in the data (columns: order_id, email, amount)',
    );
    expect(compile({ rule: "unique", columns: ["order_id", "x"] })).toThrow("checks[1].columns[1]");
    expect(compile({ rule: "expression", sql: "1; DROP TABLE t" })).toThrow(
      "checks[1].sql: must be a single expression",
    );
    expect(compile({ rule: "not_null", columns: ["email"], where: "DELETE" })).toThrow("checks[1].where");
    expect(compile({ rule: "type", column: "email", type: "int) --" })).toThrow("checks[1].type");
    expect(compile({ rule: "completeness", column: "nope", min: 1 })).toThrow("checks[1].column");
  });

  test("durationMs", () => {
    expect([
      durationMs("250ms"),
      durationMs("5s"),
      durationMs("10m"),
      durationMs("2h"),
      durationMs("3d"),
      durationMs("1w"),
    ]).toEqual([250, 5000, 600000, 7200000, 259200000, 604800000]);
    expect(() => durationMs("soon")).toThrow(/duration/);
  });
});

describe("interpretSummary", () => {
  const checks = parse([
    { rule: "not_null", columns: ["order_id"] },
    { rule: "row_count", min: 2, max: 100 },
    { rule: "completeness", column: "email", min: 0.95, severity: "warn" },
    { rule: "uniqueness", column: "order_id", min: 1 },
    { rule: "freshness", column: "amount", max_age: "1h" },
    { rule: "schema", columns: ["order_id", "phone", "fax"] },
  ]);
  const plan = compileChecks({ checks, columns, stageTable: "s" });

  test("reads counts and judges dataset rules", () => {
    const results = interpretSummary(plan, {
      rows: "120",
      quarantined: "3",
      r0: "3",
      d1: "120",
      d2_part: "114",
      d2_whole: "120",
      d3_part: "120",
      d3_whole: "120",
      d4: 7_200_000,
    });
    expect(results.map((r) => [r.name, r.failed, r.passed, r.observed, r.message])).toEqual([
      ["not_null(order_id)", 3, false, null, null],
      ["row_count", 1, false, 120, "120 rows, more than the maximum 100"],
      ["completeness(email)", 0, true, 0.95, null],
      ["uniqueness(order_id)", 0, true, 1, null],
      ["freshness(amount)", 1, false, 7_200_000, "amount: newest value is 2.0h old, older than 1h"],
      ["schema", 1, false, "phone, fax", "missing columns: phone, fax"],
    ]);
  });

  test("empty batches: completeness/uniqueness pass, freshness fails, row_count checked", () => {
    const results = interpretSummary(plan, { rows: "0", quarantined: "0", r0: "0", d1: "0", d4: null });
    expect(results.map((r) => [r.passed, r.message])).toEqual([
      [true, null],
      [false, "0 rows, fewer than the minimum 2"],
      [true, null],
      [true, null],
      [false, "amount: no values to measure freshness"],
      [false, "missing columns: phone, fax"],
    ]);
  });
});

describe("expression rules", () => {
  test("a message: is the reason recorded for a failing row; without one the reason names the SQL", () => {
    const cols = [{ name: "amount", type: "DOUBLE" }];
    const [withMessage, plain] = parse([
      { rule: "expression", sql: "amount < 5", message: "amount must stay under 5" },
      { rule: "expression", sql: "amount > 0" },
    ]).map((check) => compileChecks({ checks: [check], columns: cols, stageTable: "stage" }).flagsSql);
    expect(withMessage).toContain("'amount must stay under 5'");
    expect(withMessage).not.toContain("is false");
    expect(plain).toContain("'amount > 0 is false'");
  });
});
