import { describe, expect, test } from "vitest";
import { compileDedupe } from "../../src/plan/dedupe.js";

describe("compileDedupe", () => {
  test("keep last: the duplicates' positions, sorted by keys and order only; the kept rows a view", () => {
    const plan = compileDedupe(
      { keys: ["order_id", "line"], keep: "last", order_by: "updated_at" },
      "checked",
      {
        outTable: "deduped",
        where: 'NOT "_sluice_quarantined"',
        exclude: ["_sluice_failed_rules", "_sluice_reasons"],
      },
    );
    expect(plan.statements).toEqual([
      'CREATE OR REPLACE TEMP TABLE "deduped_dropped" AS SELECT "_sluice_row" FROM "checked" WHERE (NOT "_sluice_quarantined") ' +
        'QUALIFY NOT (row_number() OVER (PARTITION BY "order_id", "line" ORDER BY (updated_at) DESC NULLS LAST, "_sluice_row" DESC) = 1)',
      'CREATE OR REPLACE TEMP VIEW "deduped" AS SELECT * EXCLUDE ("_sluice_failed_rules", "_sluice_reasons") ' +
        'FROM "checked" WHERE (NOT "_sluice_quarantined") AND "_sluice_row" NOT IN (SELECT "_sluice_row" FROM "deduped_dropped")',
    ]);
    expect(plan.countSql).toContain(
      '(SELECT count(*) AS n FROM "checked" WHERE (NOT "_sluice_quarantined"))',
    );
    expect(plan.created).toEqual(["deduped_dropped", "deduped"]);
  });

  test("defaults: keep last by batch order; none counts the key", () => {
    expect(compileDedupe({ keys: ["id"] }, "t").statements[0]).toContain(
      'ORDER BY (_sluice_row) DESC NULLS LAST, "_sluice_row" DESC',
    );
    expect(compileDedupe({ keys: ["id"], keep: "first" }, "t").statements[0]).toContain("ASC NULLS LAST");
    expect(compileDedupe({ keys: ["id"], keep: "none" }, "t").statements).toEqual([
      'CREATE OR REPLACE TEMP TABLE "t_deduped_dropped" AS SELECT "_sluice_row" FROM "t" QUALIFY NOT (count(*) OVER (PARTITION BY "id") = 1)',
      'CREATE OR REPLACE TEMP VIEW "t_deduped" AS SELECT * FROM "t" WHERE "_sluice_row" NOT IN (SELECT "_sluice_row" FROM "t_deduped_dropped")',
    ]);
  });

  test("rejects unsafe order_by and empty keys", () => {
    expect(() => compileDedupe({ keys: ["id"], order_by: "x; DROP TABLE t" }, "t")).toThrow(
      "dedupe.order_by",
    );
    expect(() => compileDedupe({ keys: [] }, "t")).toThrow("dedupe.keys");
  });
});
