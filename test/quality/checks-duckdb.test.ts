import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { type CheckConfig, checkSchema } from "../../src/config/schema.js";
import { type CheckResult, compileChecks, interpretSummary } from "../../src/plan/check-compiler.js";
import { expressionProbeSql, probeTypeProblem } from "../../src/plan/sql-expression.js";
import { openStageDb, type StageDb } from "./stage-db.js";

let db: StageDb;

beforeAll(async () => {
  db = await openStageDb();
});

afterAll(() => db.close());

const rows = (sql: string) => db.rows(sql);
const describeTable = (table: string) => db.describeTable(table);
const stage = (columns: string, values: readonly string[]) => db.stage(columns, values);

interface Outcome {
  /** _sluice_row → failed rule names / reasons. */
  readonly failed: Record<number, { rules: string[]; reasons: string[]; quarantined: boolean }>;
  readonly results: CheckResult[];
  readonly total: number;
}

async function check(
  table: string,
  raw: readonly Record<string, unknown>[],
  options: {
    maskedColumns?: string[];
    nullIsPass?: boolean;
    now?: Date;
    reasons?: "all" | "quarantined";
    outTable?: string;
  } = {},
): Promise<Outcome> {
  const checks = raw.map((c) => checkSchema.parse(c)) as CheckConfig[];
  const plan = compileChecks({ checks, columns: await describeTable(table), stageTable: table, ...options });
  await db.run(plan.flagsSql);
  const all = await rows(`SELECT * FROM "${plan.outTable}" ORDER BY _sluice_row`);
  const failed: Outcome["failed"] = {};
  for (const r of all) {
    const rules = r._sluice_failed_rules as string[];
    if (rules.length > 0) {
      failed[Number(r._sluice_row)] = {
        rules,
        reasons: r._sluice_reasons as string[],
        quarantined: r._sluice_quarantined as boolean,
      };
    } else {
      expect(r._sluice_quarantined).toBe(false);
    }
  }
  const summary = (await rows(plan.summarySql))[0]!;
  return { failed, results: interpretSummary(plan, summary), total: all.length };
}

function reasons(o: Outcome): Record<number, string[]> {
  return Object.fromEntries(Object.entries(o.failed).map(([k, v]) => [k, v.reasons]));
}

describe("row rules on DuckDB", () => {
  test("not_null over several columns names the null ones", async () => {
    const t = await stage("id, name", [
      "CAST(1 AS INTEGER), CAST('a' AS VARCHAR)",
      "NULL, 'b'",
      "3, NULL",
      "NULL, NULL",
    ]);
    const o = await check(t, [{ rule: "not_null", columns: ["id", "name"] }]);
    expect(reasons(o)).toEqual({ 2: ["id is null"], 3: ["name is null"], 4: ["id, name are null"] });
    expect(o.failed[2]!.rules).toEqual(["not_null(id,name)"]);
    expect(o.results[0]).toMatchObject({
      name: "not_null(id,name)",
      failed: 3,
      passed: false,
      severity: "error",
    });
  });

  test("unique flags every row of a duplicated key, ignores NULL keys, counts in-scope rows only", async () => {
    const t = await stage("id, region", [
      "CAST(1 AS INTEGER), CAST('eu' AS VARCHAR)",
      "2, 'eu'",
      "2, 'us'",
      "NULL, 'eu'",
      "NULL, 'eu'",
      "3, 'eu'",
      "3, 'eu'",
      "3, 'us'",
    ]);
    const o = await check(t, [
      { rule: "unique", columns: ["id"] },
      { rule: "unique", columns: ["id", "region"], name: "id_region" },
      { rule: "unique", columns: ["id"], where: "region = 'eu'", name: "eu_ids" },
    ]);
    expect(o.failed[2]!.reasons).toEqual(["id = 2 appears 2 times in the batch"]);
    expect(o.failed[3]!.rules).toEqual(["unique(id)"]);
    expect(o.failed[6]!.rules).toEqual(["unique(id)", "id_region", "eu_ids"]);
    expect(o.failed[6]!.reasons).toEqual([
      "id = 3 appears 3 times in the batch",
      "(id, region) = (3, 'eu') appears 2 times in the batch",
      "id = 3 appears 2 times in the batch",
    ]);
    expect(o.failed[8]!.rules).toEqual(["unique(id)"]);
    expect(Object.keys(o.failed).map(Number)).toEqual([2, 3, 6, 7, 8]);
    expect(o.results.map((r) => r.failed)).toEqual([5, 2, 2]);
  });

  test("range: inclusive and exclusive bounds, string bounds on dates, numeric bounds on text", async () => {
    const t = await stage("amount, day, code", [
      "CAST(-1 AS DECIMAL(12,2)), DATE '2019-12-31', CAST('5' AS VARCHAR)",
      "0, DATE '2020-01-01', 'abc'",
      "100, DATE '2020-06-01', '7'",
      "101, DATE '2021-01-01', NULL",
      "NULL, NULL, '11'",
    ]);
    const o = await check(t, [
      { rule: "range", column: "amount", min: 0, max: 100 },
      { rule: "range", column: "amount", min: 0, max: 100, inclusive: false, name: "open" },
      { rule: "range", column: "day", min: "2020-01-01", max: "2020-12-31" },
      { rule: "range", column: "code", max: 10 },
    ]);
    expect(reasons(o)).toEqual({
      1: [
        "amount = -1.00 is below the minimum 0",
        "amount = -1.00 is not above the exclusive minimum 0",
        "day = 2019-12-31 is below the minimum 2020-01-01",
      ],
      2: ["amount = 0.00 is not above the exclusive minimum 0", "code = 'abc' is not a number"],
      3: ["amount = 100.00 is not below the exclusive maximum 100"],
      4: [
        "amount = 101.00 is above the maximum 100",
        "amount = 101.00 is not below the exclusive maximum 100",
        "day = 2021-01-01 is above the maximum 2020-12-31",
      ],
      5: ["code = '11' is above the maximum 10"],
    });
  });

  test("regex is a partial match unless anchored; masked values never appear in reasons", async () => {
    const t = await stage("email, tag", [
      "CAST('ann@example.com' AS VARCHAR), CAST('abc' AS VARCHAR)",
      "'not-an-email', 'b'",
      "NULL, 'xbx'",
    ]);
    const o = await check(
      t,
      [
        { rule: "regex", column: "email", pattern: "^[^@\\s]+@[^@\\s]+\\.[A-Za-z]{2,}$" },
        { rule: "regex", column: "tag", pattern: "b", name: "has_b" },
        { rule: "regex", column: "tag", pattern: "^b$", name: "only_b" },
      ],
      { maskedColumns: ["email"] },
    );
    expect(reasons(o)).toEqual({
      1: ["tag = 'abc' does not match the pattern ^b$"],
      2: ["email does not match the pattern ^[^@\\s]+@[^@\\s]+\\.[A-Za-z]{2,}$"],
      3: ["tag = 'xbx' does not match the pattern ^b$"],
    });
    expect(JSON.stringify(o.failed)).not.toContain("not-an-email");
  });

  test("accepted_values on text and numbers; length; type; date_format", async () => {
    const t = await stage("status, qty, name, raw, day", [
      "CAST('NEW' AS VARCHAR), CAST(1 AS INTEGER), CAST('Al' AS VARCHAR), CAST('12' AS VARCHAR), CAST('28/02/2020' AS VARCHAR)",
      "'LOST', 5, 'Alexander', '2.5x', '31/02/2020'",
      "'SHIPPED', 2, 'A', NULL, '2020-02-01'",
    ]);
    const o = await check(t, [
      { rule: "accepted_values", column: "status", values: ["NEW", "SHIPPED"] },
      { rule: "accepted_values", column: "qty", values: [1, 2] },
      { rule: "length", column: "name", min: 2, max: 8 },
      { rule: "type", column: "raw", type: "integer" },
      { rule: "date_format", column: "day", format: "%d/%m/%Y" },
    ]);
    expect(reasons(o)).toEqual({
      2: [
        "status = 'LOST' is not one of NEW, SHIPPED",
        "qty = 5 is not one of 1, 2",
        "name has length 9, above the maximum 8",
        "raw = '2.5x' is not a valid INTEGER",
        "day = '31/02/2020' does not match the date format %d/%m/%Y",
      ],
      3: [
        "name has length 1, below the minimum 2",
        "day = '2020-02-01' does not match the date format %d/%m/%Y",
      ],
    });
  });

  test("type integer refuses a fraction, in text and in a number column, that a cast would round", async () => {
    const t = await stage("raw, amount", [
      "CAST(' 12 ' AS VARCHAR), CAST(3.0 AS DOUBLE)",
      "'3.7', 2.5",
      "'-4', -1.0",
      "'1e3', 7.25",
    ]);
    const o = await check(t, [
      { rule: "type", column: "raw", type: "integer" },
      { rule: "type", column: "amount", type: "bigint" },
    ]);
    expect(reasons(o)).toEqual({
      2: ["raw = '3.7' is not a valid INTEGER", "amount = 2.5 is not a valid BIGINT"],
      4: ["raw = '1e3' is not a valid INTEGER", "amount = 7.25 is not a valid BIGINT"],
    });
  });

  test("expression fails only on FALSE (NULL passes) and uses its name", async () => {
    const t = await stage("amount, day", [
      "CAST(5 AS INTEGER), DATE '2020-01-01'",
      "-1, DATE '2020-01-01'",
      "NULL, DATE '2999-01-01'",
    ]);
    const o = await check(t, [
      { rule: "expression", name: "positive", sql: "amount > 0" },
      { rule: "expression", sql: "day <= DATE '2100-01-01'" },
    ]);
    expect(o.failed).toEqual({
      2: { rules: ["positive"], reasons: ["amount > 0 is false"], quarantined: true },
      3: {
        rules: ["expression:day <= DATE '2100-01-01'"],
        reasons: ["day <= DATE '2100-01-01' is false"],
        quarantined: true,
      },
    });
  });

  test("foreign_key looks values up in the referenced table", async () => {
    await db.run(`CREATE TABLE customers AS SELECT * FROM (VALUES (10), (20), (NULL)) AS v(id)`);
    const t = await stage("customer_id", ["CAST(10 AS INTEGER)", "30", "NULL", "20", "30"]);
    const o = await check(t, [
      { rule: "foreign_key", column: "customer_id", references: { table: "customers", column: "id" } },
    ]);
    expect(reasons(o)).toEqual({
      2: ["customer_id = 30 has no match in customers.id"],
      5: ["customer_id = 30 has no match in customers.id"],
    });
  });

  test("outlier uses the z-score over the batch (or the in-scope rows)", async () => {
    const values = [10, 11, 9, 10, 10, 12, 8, 10, 10, 1000].map((v, i) =>
      i === 0 ? `CAST(${v} AS DOUBLE), CAST('a' AS VARCHAR)` : `${v}, '${i < 9 ? "a" : "b"}'`,
    );
    const t = await stage("amount, grp", values);
    const o = await check(t, [
      { rule: "outlier", column: "amount", z_score: 2 },
      { rule: "outlier", column: "amount", z_score: 1.5, where: "grp = 'a'", name: "in_a" },
    ]);
    // all: mean 109, sample stddev 313.0 -> z(1000) = 2.85; group a: mean 10, sd 1.118 -> z(12) = 1.79, z(8) = -1.79
    expect(reasons(o)).toEqual({
      6: ["amount = 12.0 is an outlier (z-score 1.79, limit 1.5)"],
      7: ["amount = 8.0 is an outlier (z-score -1.79, limit 1.5)"],
      10: ["amount = 1000.0 is an outlier (z-score 2.85, limit 2)"],
    });
  });

  test("where scopes a rule; warn rules are reported but do not quarantine; nullIsPass false", async () => {
    const t = await stage("status, amount", [
      "CAST('NEW' AS VARCHAR), CAST(-5 AS INTEGER)",
      "'OLD', -5",
      "'NEW', NULL",
      "NULL, -1",
    ]);
    const o = await check(
      t,
      [
        { rule: "range", column: "amount", min: 0, where: "status = 'NEW'" },
        { rule: "range", column: "amount", max: -2, severity: "warn", name: "soft" },
      ],
      { nullIsPass: false },
    );
    expect(o.failed).toEqual({
      1: { rules: ["range(amount)"], reasons: ["amount = -5 is below the minimum 0"], quarantined: true },
      3: {
        rules: ["range(amount)", "soft"],
        reasons: ["amount is null", "amount is null"],
        quarantined: true,
      },
      4: { rules: ["soft"], reasons: [], quarantined: false },
    });
    expect(o.results.map((r) => [r.name, r.severity, r.failed])).toEqual([
      ["range(amount)", "error", 2],
      ["soft", "warn", 2],
    ]);
    const all = await check(t, [{ rule: "range", column: "amount", max: -2, severity: "warn" }], {
      reasons: "all",
      outTable: `${t}_all`,
    });
    expect(reasons(all)).toEqual({ 4: ["amount = -1 is above the maximum -2"] });
  });

  test("masked key columns keep their values out of every reason", async () => {
    const t = await stage("ssn, status", [
      "CAST('123-45-6789' AS VARCHAR), CAST('X' AS VARCHAR)",
      "'123-45-6789', 'NEW'",
    ]);
    const o = await check(
      t,
      [
        { rule: "unique", columns: ["ssn"] },
        { rule: "accepted_values", column: "ssn", values: ["000-00-0000"] },
        { rule: "length", column: "ssn", max: 5 },
        { rule: "accepted_values", column: "status", values: ["NEW"] },
      ],
      { maskedColumns: ["ssn"] },
    );
    expect(o.failed[1]!.reasons).toEqual([
      "ssn: the key appears 2 times in the batch",
      "ssn is not one of 000-00-0000",
      "ssn has length 11, above the maximum 5",
      "status = 'X' is not one of NEW",
    ]);
    expect(JSON.stringify(o.failed)).not.toContain("6789");
  });

  test("odd column names are quoted safely", async () => {
    const t = await stage('"we""ird col", "select"', ["CAST(NULL AS INTEGER), CAST(1 AS INTEGER)", "1, 2"]);
    const o = await check(t, [
      { rule: "not_null", columns: ['we"ird col'] },
      { rule: "range", column: "select", max: 1 },
    ]);
    expect(reasons(o)).toEqual({ 1: ['we"ird col is null'], 2: ["select = 2 is above the maximum 1"] });
  });
});

describe("dataset rules on DuckDB", () => {
  test("row_count, completeness, uniqueness, freshness and schema in one summary query", async () => {
    const t = await stage("email, country, seen_at", [
      "CAST('a@x.io' AS VARCHAR), CAST('DE' AS VARCHAR), TIMESTAMP '2024-05-01 10:00:00'",
      "NULL, 'DE', TIMESTAMP '2024-05-01 11:00:00'",
      "'c@x.io', 'FR', TIMESTAMP '2024-05-01 11:30:00'",
      "'d@x.io', 'DE', NULL",
    ]);
    const now = new Date("2024-05-01T12:00:00Z");
    const o = await check(
      t,
      [
        { rule: "row_count", min: 5 },
        { rule: "row_count", max: 10, name: "not_too_many" },
        { rule: "completeness", column: "email", min: 0.9 },
        { rule: "completeness", column: "email", min: 1, where: "country = 'FR'", name: "fr_complete" },
        { rule: "uniqueness", column: "country", min: 0.5, severity: "warn" },
        { rule: "freshness", column: "seen_at", max_age: "1h" },
        { rule: "freshness", column: "seen_at", max_age: "10m", name: "very_fresh" },
        { rule: "schema", columns: ["email", "country", "phone"] },
      ],
      { now },
    );
    expect(o.results.map((r) => [r.name, r.level, r.passed, r.observed, r.message])).toEqual([
      ["row_count", "dataset", false, 4, "4 rows, fewer than the minimum 5"],
      ["not_too_many", "dataset", true, 4, null],
      [
        "completeness(email)",
        "dataset",
        false,
        0.75,
        "email: 75% of values are non-null, below the minimum 90%",
      ],
      ["fr_complete", "dataset", true, 1, null],
      ["uniqueness(country)", "dataset", true, 0.5, null],
      ["freshness(seen_at)", "dataset", true, 1_800_000, null],
      ["very_fresh", "dataset", false, 1_800_000, "seen_at: newest value is 30.0m old, older than 10m"],
      ["schema", "dataset", false, "phone", "missing column: phone"],
    ]);
    expect(o.results[0]!.failed).toBe(1);
    expect(o.results[1]!.failed).toBe(0);
    // dataset rules never flag rows
    expect(o.failed).toEqual({});
  });

  test("a freshness check on an empty batch fails; completeness of nothing passes", async () => {
    const t = await stage("seen_at", ["CAST(NULL AS DATE)"]);
    const o = await check(t, [
      { rule: "freshness", column: "seen_at", max_age: "1d" },
      { rule: "completeness", column: "seen_at", min: 1, where: "FALSE" },
    ]);
    expect(o.results.map((r) => [r.passed, r.message])).toEqual([
      [false, "seen_at: no values to measure freshness"],
      [true, null],
    ]);
  });
});

describe("expression probes on DuckDB", () => {
  test("expressionProbeSql binds valid expressions, reports the type, rejects unknown columns", async () => {
    const columns = [
      { name: "amount", type: "DECIMAL(12,2)" },
      { name: "order date", type: "DATE" },
    ];
    const typeOf = async (sql: string) => (await rows(expressionProbeSql(sql, columns)))[0]!.type as string;
    const ok = await typeOf(`amount > 0 AND "order date" <= current_date`);
    expect([ok, probeTypeProblem(ok, { boolean: true })]).toEqual(["BOOLEAN", null]);
    expect(await typeOf('year("order date")')).toBe("BIGINT");
    const date = await typeOf('"order date"');
    expect(probeTypeProblem(date, { boolean: true })).toBe(
      "must be a true/false condition, but it gives DATE",
    );
    await expect(typeOf("amout > 0")).rejects.toThrow(/amout/);
  });
});
