import { describe, expect, test } from "vitest";
import {
  expressionProbeSql,
  probeTypeProblem,
  validateSqlExpression,
  wrapExpression,
} from "../../src/plan/sql-expression.js";

describe("validateSqlExpression", () => {
  test("accepts ordinary read-only expressions", () => {
    for (const sql of [
      "order_date <= current_date",
      "amount * 1.08",
      "status IN ('NEW', 'SHIPPED')",
      "note = 'DROP TABLE x; --'",
      `"update" > 0 AND "set" IS NOT NULL`,
      "coalesce(a, b) > (SELECT max(x) FROM ref)",
      "regexp_matches(email, '^[^@]+@')",
      "x = $$a;b$$",
      "x = E'it\\'s;'",
      "reset_count > 0 AND settled",
      "amount > 0 -- positive only",
      "/* why */ amount > 0",
    ]) {
      expect(validateSqlExpression(sql), sql).toBeNull();
    }
  });

  test("rejects statement separators, write keywords and broken text", () => {
    expect(validateSqlExpression("1; DROP TABLE orders")).toBe("must be a single expression: remove the ';'");
    expect(validateSqlExpression("DELETE FROM orders")).toMatch(/DELETE is not allowed/);
    expect(validateSqlExpression("(SELECT 1) UNION ALL (COPY t TO 'x')")).toMatch(/COPY is not allowed/);
    expect(validateSqlExpression("attach 'x.db'")).toMatch(/ATTACH/);
    expect(validateSqlExpression("update > 0")).toBe(
      'must be a read-only expression: UPDATE is not allowed (quote a column named update as "update")',
    );
    expect(validateSqlExpression("name = 'abc")).toMatch(/unterminated string/);
    expect(validateSqlExpression('"abc = 1')).toMatch(/unterminated quoted identifier/);
    expect(validateSqlExpression("1) AS x FROM secret --")).toMatch(/without a matching '\('/);
    expect(validateSqlExpression("(1")).toMatch(/without a matching '\)'/);
    expect(validateSqlExpression("a /* b")).toMatch(/unterminated \/\*/);
    expect(validateSqlExpression("x = $$abc")).toMatch(/unterminated \$\$/);
    expect(validateSqlExpression("   ")).toBe("must not be empty");
  });

  test("wrapExpression closes a trailing line comment", () => {
    expect(wrapExpression(" a > 0 ")).toBe("(a > 0)");
    expect(wrapExpression("a > 0 -- note")).toBe("(a > 0 -- note\n)");
    expect(wrapExpression("a = '--'")).toBe("(a = '--')");
  });

  test("expressionProbeSql builds an all-NULL row with the columns", () => {
    expect(expressionProbeSql("amount > 0", [{ name: "amount", type: "DOUBLE" }])).toBe(
      'SELECT typeof((amount > 0)) AS "type" FROM (SELECT CAST(NULL AS DOUBLE) AS "amount") AS "row"',
    );
    expect(probeTypeProblem("BOOLEAN", { boolean: true })).toBeNull();
    expect(probeTypeProblem("INTEGER", { boolean: true })).toBe(
      "must be a true/false condition, but it gives INTEGER",
    );
    expect(probeTypeProblem("INTEGER")).toBeNull();
  });
});
