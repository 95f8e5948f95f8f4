import { describe, expect, it } from "vitest";
import { deltaToDuckType } from "../../src/lake/delta-schema.js";
import { partitionLiteral } from "../../src/lake/partition-values.js";

// A Delta log written by another tool can hold any name or partition value; a NUL would end the SQL
// text early in DuckDB's C parser, so the lake quotes through the same guarded helpers as plan/.
describe("lake SQL quoting", () => {
  const field = (name: string) => ({ name, type: "long", nullable: true, metadata: {} });

  it("quotes a struct field's name, doubling quotes", () => {
    expect(deltaToDuckType({ type: "struct", fields: [field('a"b')] })).toBe('STRUCT("a""b" BIGINT)');
    expect(partitionLiteral("O'Brien", "string")).toBe("'O''Brien'");
  });

  it("refuses a NUL in a field name or a partition value", () => {
    expect(() => deltaToDuckType({ type: "struct", fields: [field("a\u0000b")] })).toThrow(/NUL/);
    expect(() => partitionLiteral("a\u0000b", "string")).toThrow(/NUL/);
  });
});
