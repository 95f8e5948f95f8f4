import { describe, expect, test } from "vitest";
import {
  isNumericType,
  isSafeTypeName,
  isStringType,
  quoteIdent,
  quoteLiteral,
  quoteQualified,
  sqlType,
  sqlValue,
} from "../../src/plan/sql-text.js";

describe("sql-text", () => {
  test("quoteIdent doubles embedded quotes", () => {
    expect(quoteIdent("order_id")).toBe('"order_id"');
    expect(quoteIdent('we"ird')).toBe('"we""ird"');
    expect(quoteQualified("main.orders")).toBe('"main"."orders"');
    expect(() => quoteIdent("a\u0000b")).toThrow(/NUL/);
  });

  test("quoteLiteral doubles single quotes and leaves backslashes alone", () => {
    expect(quoteLiteral("O'Brien")).toBe("'O''Brien'");
    expect(quoteLiteral("a\\b")).toBe("'a\\b'");
  });

  test("sqlValue renders config values", () => {
    expect([sqlValue(1.5), sqlValue(-2), sqlValue(true), sqlValue("x'y"), sqlValue(null)]).toEqual([
      "1.5",
      "-2",
      "TRUE",
      "'x''y'",
      "NULL",
    ]);
    expect(() => sqlValue(Number.NaN)).toThrow();
  });

  test("type names", () => {
    for (const t of [
      "BIGINT",
      "decimal(12,2)",
      "DECIMAL( 12 , 2 )",
      "TIMESTAMP WITH TIME ZONE",
      "VARCHAR[]",
      "INTEGER[3]",
    ]) {
      expect(isSafeTypeName(t), t).toBe(true);
    }
    for (const t of ["int); DROP TABLE x; --", "STRUCT(a INT)", "", "1INT", "varchar'"]) {
      expect(isSafeTypeName(t), t).toBe(false);
    }
    expect(sqlType(" date ", "checks[0].type")).toBe("date");
    expect(() => sqlType("x;y", "checks[0].type")).toThrow("checks[0].type");
    expect([
      isStringType("varchar"),
      isStringType("VARCHAR(20)"),
      isStringType("TEXT"),
      isStringType("BIGINT"),
    ]).toEqual([true, true, true, false]);
    expect([isNumericType("DECIMAL(12,2)"), isNumericType("double"), isNumericType("DATE")]).toEqual([
      true,
      true,
      false,
    ]);
  });
});
