import { describe, expect, it } from "vitest";
import { parseWhere } from "../../src/cli/commands/lake-command.js";

describe("lake optimize --where", () => {
  it("reads plain and double-quoted partition column names", () => {
    expect(parseWhere(`order_year = 2025 AND "Region Name" = 'EU/x' AND "a""b" IS NOT NULL`)).toEqual([
      { column: "order_year", op: "=", value: 2025 },
      { column: "Region Name", op: "=", value: "EU/x" },
      { column: 'a"b', op: "is not null" },
    ]);
    expect(parseWhere(`"région" is null`)).toEqual([{ column: "région", op: "is null" }]);
  });

  it("still refuses what it cannot read, naming it", () => {
    expect(() => parseWhere("region ~ 'x'")).toThrow(/--where: cannot read "region ~ 'x'"/);
    expect(() => parseWhere(`"open = 1`)).toThrow(/cannot read/);
  });
});
