import { describe, expect, it } from "vitest";
import type { PipelineConfig } from "../../src/config/schema.js";
import { SluiceError } from "../../src/errors.js";
import {
  declaredColumnName,
  resolveDeclaredColumns,
  sourceNaming,
  withResolvedColumns,
} from "../../src/plan/declared-columns.js";

type Declared = Pick<PipelineConfig, "source" | "naming" | "columns">;
const file = (
  columns: PipelineConfig["columns"],
  naming: PipelineConfig["naming"] = "snake_case",
): Declared => ({
  source: { path: "in/*.csv", on_malformed: "quarantine" },
  naming,
  columns,
});

describe("declared columns", () => {
  it("a key written as the source names the column means the column by its name in the rows", () => {
    expect(declaredColumnName("E-Mail", "snake_case")).toBe("e_mail");
    expect(declaredColumnName("e_mail", "snake_case")).toBe("e_mail");
    expect(declaredColumnName("Order ID", "snake_case")).toBe("order_id");
    expect(declaredColumnName("SSN", "snake_case")).toBe("ssn");
    expect(declaredColumnName("E-Mail", "keep")).toBe("E-Mail");
    expect(declaredColumnName(" SSN ", "keep")).toBe("SSN");
  });

  it("keys the pipeline's columns by those names, whichever name the config used", () => {
    const pipeline = file({ "E-Mail": { mask: "email" }, SSN: { mask: "redact" }, id: { type: "bigint" } });
    expect(withResolvedColumns(pipeline).columns).toEqual({
      e_mail: { mask: "email" },
      ssn: { mask: "redact" },
      id: { type: "bigint" },
    });
    // naming: keep keeps the names as written: `ssn` does not mean a column named SSN.
    expect(withResolvedColumns(file({ ssn: { mask: "redact" } }, "keep")).columns).toEqual({
      ssn: { mask: "redact" },
    });
  });

  it("a warehouse query keeps its column names, whatever naming says", () => {
    const query: Declared = {
      source: { sql: 'select 1 AS "OrderID"' },
      naming: "snake_case",
      columns: { OrderID: { type: "int" } },
    };
    expect(sourceNaming(query)).toBe("keep");
    expect(withResolvedColumns(query).columns).toEqual({ OrderID: { type: "int" } });
  });

  it("two keys meaning one column are a problem, named by the later key", () => {
    const pipeline = file({ "E-Mail": { mask: "email" }, e_mail: { type: "varchar" } });
    expect(resolveDeclaredColumns(pipeline).problems).toEqual([
      {
        path: "columns.e_mail",
        message: "means the same column as columns.E-Mail (both name e_mail); declare it once",
      },
    ]);
    expect(() => withResolvedColumns(pipeline)).toThrow(SluiceError);
  });
});
