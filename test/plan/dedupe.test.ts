import { describe, expect, test } from "vitest";
import { compileDedupe } from "../../src/plan/dedupe.js";

describe("compileDedupe", () => {
  test("keep last orders descending with a _sluice_row tie-break", () => {
    const plan = compileDedupe(
      { keys: ["order_id", "line"], keep: "last", order_by: "updated_at" },
      "checked",
      {
        outTable: "deduped",
        where: 'NOT "_sluice_quarantined"',
        exclude: ["_sluice_failed_rules", "_sluice_reasons"],
      },
    );
    expect(plan.sql).toBe(
      'CREATE TEMP TABLE "deduped" AS SELECT * EXCLUDE ("_sluice_failed_rules", "_sluice_reasons") ' +
        'FROM "checked" WHERE (NOT "_sluice_quarantined") ' +
        'QUALIFY row_number() OVER (PARTITION BY "order_id", "line" ORDER BY (updated_at) DESC NULLS LAST, "_sluice_row" DESC) = 1',
    );
    expect(plan.countSql).toContain(
      '(SELECT count(*) AS n FROM "checked" WHERE (NOT "_sluice_quarantined"))',
    );
  });

  test("defaults: keep last by batch order; none counts the key", () => {
    expect(compileDedupe({ keys: ["id"] }, "t").sql).toContain(
      'ORDER BY (_sluice_row) DESC NULLS LAST, "_sluice_row" DESC',
    );
    expect(compileDedupe({ keys: ["id"], keep: "first" }, "t").sql).toContain("ASC NULLS LAST");
    expect(compileDedupe({ keys: ["id"], keep: "none" }, "t").sql).toBe(
      'CREATE TEMP TABLE "t_deduped" AS SELECT * FROM "t" QUALIFY count(*) OVER (PARTITION BY "id") = 1',
    );
  });

  test("rejects unsafe order_by and empty keys", () => {
    expect(() => compileDedupe({ keys: ["id"], order_by: "x; DROP TABLE t" }, "t")).toThrow(
      "dedupe.order_by",
    );
    expect(() => compileDedupe({ keys: [] }, "t")).toThrow("dedupe.keys");
  });
});
