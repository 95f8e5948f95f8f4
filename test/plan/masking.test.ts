import { describe, expect, test } from "vitest";
import {
  compileMaskedSelect,
  maskExpression,
  maskedColumnNames,
  maskTypeProblem,
} from "../../src/plan/masking.js";

const columns = [
  { name: "id", type: "BIGINT" },
  { name: "email", type: "VARCHAR" },
  { name: "note", type: "VARCHAR" },
];

describe("masking SQL", () => {
  test("hash salts the text value; drop has no expression; null keeps the type", () => {
    expect(maskExpression("hash", '"email"', "'s'")).toBe(`sha256('s' || "email")`);
    expect(maskExpression("hash", '"id"', "$salt", "BIGINT")).toBe(`sha256($salt || CAST("id" AS VARCHAR))`);
    expect(maskExpression("drop", '"id"', "''")).toBeNull();
    expect(maskExpression("null", '"id"', "''", "DECIMAL(12,2)")).toBe("CAST(NULL AS DECIMAL(12,2))");
  });

  test("compileMaskedSelect replaces, keeps and drops columns in order", () => {
    const list = compileMaskedSelect(
      columns,
      { id: { mask: "null" }, note: { mask: "drop" }, other: { type: "int" } },
      "''",
    );
    expect(list).toBe('CAST(NULL AS BIGINT) AS "id", "email"');
    expect(compileMaskedSelect(columns, {}, "''", "s.")).toBe('s."id", s."email", s."note"');
  });

  test("text-only masks on other types are configuration errors", () => {
    expect(maskTypeProblem("last4", "BIGINT")).toBe(
      "mask last4 needs a text column, but the column is BIGINT; use hash, null or drop",
    );
    expect(maskTypeProblem("hash", "BIGINT")).toBeNull();
    expect(maskTypeProblem("redact", "varchar(10)")).toBeNull();
    expect(() => compileMaskedSelect(columns, { id: { mask: "email" } }, "''")).toThrow(
      "columns.id.mask: mask email",
    );
    expect(() =>
      compileMaskedSelect(
        columns,
        { id: { mask: "drop" }, email: { mask: "drop" }, note: { mask: "drop" } },
        "''",
      ),
    ).toThrow(/every column is dropped/);
  });

  test("maskedColumnNames lists masked columns", () => {
    expect(maskedColumnNames({ a: { mask: "hash" }, b: {}, c: { mask: "drop" } })).toEqual(["a", "c"]);
  });
});
