import { DuckDBInstance } from "@duckdb/node-api";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type CheckConfig, checkSchema } from "../../src/config/schema.js";
import { CHECK_IN_WRITE_MARK, compileChecks, interpretSummary } from "../../src/plan/check-compiler.js";

// The check in the write of a check plan, run on DuckDB: it lets every row through that no error or fatal row
// rule fails, raises CHECK_IN_WRITE_MARK at one that does, and its aggregates count the rest as the full
// summary would.
const parse = (raw: readonly Record<string, unknown>[]): CheckConfig[] =>
  raw.map((c) => checkSchema.parse(c));
const columns = [
  { name: "id", type: "BIGINT" },
  { name: "email", type: "VARCHAR" },
  { name: "amount", type: "DOUBLE" },
  { name: "_sluice_row", type: "BIGINT" },
];
const checks = parse([
  { rule: "not_null", columns: ["id"] },
  { rule: "regex", column: "email", pattern: "@", where: "amount > 10" },
  { rule: "range", column: "amount", max: 100, severity: "warn" },
  { rule: "range", column: "amount", min: 0, severity: "fatal" },
  { rule: "completeness", column: "email", min: 0.5, severity: "warn" },
  { rule: "row_count", min: 1 },
]);

describe("CheckPlan.inWrite", () => {
  let instance: DuckDBInstance;
  beforeAll(async () => {
    instance = await DuckDBInstance.create(":memory:");
  });
  afterAll(() => instance.closeSync());

  /** Rows through the check in the write (as a view over VALUES), or the error it raised. */
  const throughWrite = async (rows: string) => {
    const con = await instance.connect();
    try {
      await con.run(
        `CREATE OR REPLACE TEMP VIEW stage AS SELECT *, NULL::BIGINT AS _sluice_row FROM (VALUES ${rows}) AS t(id, email, amount)`,
      );
      const plan = compileChecks({ checks, columns, stageTable: "stage" });
      const inWrite = plan.inWrite!;
      await con.run(`CREATE OR REPLACE TEMP VIEW kept AS SELECT * FROM stage WHERE ${inWrite.condition}`);
      const kept = Number((await con.runAndReadAll("SELECT count(*) FROM kept")).getRows()[0]![0]);
      const summary = (
        await con.runAndReadAll(`SELECT ${inWrite.aggregates.join(", ")} FROM (${plan.counts.from})`)
      ).getRowObjectsJson()[0]!;
      return { kept, results: interpretSummary(plan, summary) };
    } catch (error) {
      return { error: (error as Error).message };
    } finally {
      con.closeSync();
    }
  };

  it("lets clean rows through and counts warn and dataset rules as the full summary does", async () => {
    const out = await throughWrite("(1, 'a@x', 5.0), (2, NULL, 150.0), (3, 'no-at', 5.0)");
    expect(out).toMatchObject({ kept: 3 });
    const byName = Object.fromEntries(("results" in out ? out.results! : []).map((r) => [r.name, r]));
    expect(byName["range(amount)"]).toMatchObject({ severity: "warn", failed: 1 });
    expect(byName["not_null(id)"]).toMatchObject({ failed: 0, passed: true });
    expect(byName["completeness(email)"]).toMatchObject({ failed: 0, observed: 2 / 3 });
    expect(byName.row_count).toMatchObject({ observed: 3, passed: true });
  });

  it.each([
    ["an error rule", "(1, 'a@x', 5.0), (NULL, 'b@x', 5.0)"],
    ["a scoped error rule inside its scope", "(1, 'no-at', 50.0)"],
    ["a fatal rule", "(1, 'a@x', -1.0)"],
  ])("raises the check's error at a row failing %s", async (_, rows) => {
    expect(await throughWrite(rows)).toEqual({ error: expect.stringContaining(CHECK_IN_WRITE_MARK) });
  });

  it("is absent when a blocking row rule needs more than its row", () => {
    for (const rule of [
      { rule: "unique", columns: ["id"] },
      { rule: "outlier", column: "amount", z_score: 3 },
      { rule: "foreign_key", column: "id", references: { table: "other", column: "id" } },
    ]) {
      expect(compileChecks({ checks: parse([rule]), columns, stageTable: "stage" }).inWrite).toBeUndefined();
      // As a warn rule it is counted after the write instead.
      const warn = parse([{ ...rule, severity: "warn" }]);
      expect(compileChecks({ checks: warn, columns, stageTable: "stage" }).inWrite?.condition).toBe("TRUE");
    }
  });
});
