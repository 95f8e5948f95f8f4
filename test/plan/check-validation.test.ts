import { describe, expect, test } from "vitest";
import { pipelineSchema } from "../../src/config/schema.js";
import { dateFormatProblem, regexProblem, validateChecks } from "../../src/plan/check-validation.js";

const pipeline = (extra: Record<string, unknown>) =>
  pipelineSchema.parse({ source: { path: "in/*.csv" }, target: { table: "t" }, ...extra });

describe("validateChecks", () => {
  test("a clean pipeline has no problems", () => {
    const p = pipeline({
      columns: { email: { type: "varchar", mask: "email" }, amount: { type: "decimal(12,2)" } },
      derive: { year: "year(order_date)" },
      checks: [
        { rule: "not_null", columns: ["order_id"] },
        { rule: "range", column: "amount", min: 0, max: 10 },
        { rule: "regex", column: "email", pattern: "^[^@\\s]+@[^@\\s]+$" },
        { rule: "outlier", column: "amount" },
        { rule: "date_format", column: "order_date", format: "%d/%m/%Y" },
        { rule: "expression", name: "recent", sql: "year >= 2000", where: "amount > 0" },
      ],
      dedupe: { keys: ["order_id"], order_by: "updated_at" },
    });
    expect(validateChecks(p, ["order_id", "email", "amount", "order_date", "updated_at", "year"])).toEqual(
      [],
    );
  });

  test("reports every problem with its path", () => {
    const p = pipeline({
      columns: { id: { type: "bigint", mask: "email" }, code: { type: "varchar" } },
      derive: { bad: "1; DROP TABLE x" },
      checks: [
        { rule: "not_null", columns: ["id", "nme"] },
        { rule: "range", column: "id", min: 10, max: 5 },
        { rule: "regex", column: "code", pattern: "(?<=a)b" },
        { rule: "regex", column: "code", pattern: "([a-z]" },
        { rule: "length", column: "code" },
        { rule: "type", column: "code", type: "int; --" },
        { rule: "date_format", column: "code", format: "yyyy-mm-dd" },
        { rule: "outlier", column: "code" },
        { rule: "expression", name: "x", sql: "DROP TABLE t" },
        { rule: "expression", name: "x", sql: "id > 0", where: "code = 'a" },
        { rule: "range", column: "id", min: 3, max: 3, inclusive: false },
        { rule: "row_count", min: 5, max: 1 },
        { rule: "schema", columns: ["not_there_yet"] },
      ],
      dedupe: { keys: ["idd"], order_by: "updated_at;" },
    });
    const problems = validateChecks(p, ["id", "code"]);
    expect(problems.map((q) => q.path)).toEqual([
      "checks[0].columns[1]",
      "checks[1].min",
      "checks[2].pattern",
      "checks[3].pattern",
      "checks[4]",
      "checks[5].type",
      "checks[6].format",
      "checks[7].column",
      "checks[8].sql",
      "checks[9].where",
      "checks[9].name",
      "checks[10].min",
      "checks[11].min",
      "columns.id.mask",
      "derive.bad",
      "dedupe.keys[0]",
      "dedupe.order_by",
    ]);
    const byPath = Object.fromEntries(problems.map((q) => [q.path, q.message]));
    expect(byPath["checks[0].columns[1]"]).toBe('unknown column "nme" (columns: id, code)');
    expect(byPath["checks[1].min"]).toBe("min 10 is greater than max 5");
    expect(byPath["checks[3].pattern"]).toMatch(/^is not a valid regular expression: /);
    expect(byPath["checks[4]"]).toBe("set min, max or both");
    expect(byPath["checks[7].column"]).toBe("outlier needs a numeric column, but code is varchar");
    expect(byPath["checks[9].name"]).toBe('"x" is already the name of checks[8]; names must be unique');
    expect(byPath["columns.id.mask"]).toBe(
      "mask email needs a text column, but the column is BIGINT; use hash, null or drop",
    );
  });

  test("unknown columns are not checked when the columns are not known", () => {
    const p = pipeline({ checks: [{ rule: "not_null", columns: ["whatever"] }], dedupe: { keys: ["k"] } });
    expect(validateChecks(p, undefined)).toEqual([]);
  });

  test("types from DESCRIBE are used for mask and outlier checks", () => {
    const p = pipeline({
      columns: { ssn: { mask: "last4" } },
      checks: [{ rule: "outlier", column: "ssn" }],
    });
    expect(validateChecks(p, undefined, { ssn: "INTEGER" }).map((q) => q.path)).toEqual(["columns.ssn.mask"]);
    expect(validateChecks(p, undefined, { ssn: "VARCHAR" }).map((q) => q.path)).toEqual(["checks[0].column"]);
  });
});

describe("regexProblem", () => {
  test("accepts RE2 syntax", () => {
    for (const p of [
      "^[a-z]+$",
      "(?i)^abc",
      "(?P<year>\\d{4})",
      "\\Aabc\\z",
      "[[:alpha:]]+",
      "a{2,3}",
      "[\\]]x",
      "\\p{Lu}+",
      "\\P{Greek}*x",
      "\\pL+",
    ]) {
      expect(regexProblem(p), p).toBeNull();
    }
  });

  test("rejects what RE2 or any engine cannot compile", () => {
    expect(regexProblem("(?=a)")).toMatch(/lookahead/);
    expect(regexProblem("(?<!a)b")).toMatch(/lookahead/);
    expect(regexProblem("(a)\\1")).toMatch(/backreferences/);
    expect(regexProblem("(?>a)")).toMatch(/atomic/);
    expect(regexProblem("a*+")).toMatch(/possessive/);
    expect(regexProblem("a{2}+")).toMatch(/possessive/);
    expect(regexProblem("(?<n>a)")).toBe(
      "named groups are written (?P<name>...) in DuckDB's RE2 engine, not (?<name>...)",
    );
    expect(regexProblem("(abc")).toMatch(/not a valid regular expression/);
    expect(regexProblem("[z-a]")).toMatch(/not a valid regular expression/);
  });
});

test("dateFormatProblem", () => {
  expect(dateFormatProblem("%Y-%m-%d %H:%M:%S")).toBeNull();
  expect(dateFormatProblem("dd/mm")).toMatch(/strptime format/);
  expect(dateFormatProblem("%Y-%q")).toBe("%q is not a strptime specifier (use %Y %m %d %H %M %S ...)");
  expect(dateFormatProblem("%Y%")).toMatch(/is not a strptime specifier/);
});
