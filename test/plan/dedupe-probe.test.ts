import { DuckDBInstance } from "@duckdb/node-api";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { dedupeRepeatProbe } from "../../src/plan/dedupe.js";

// The probe's aggregates run on DuckDB: whether a key repeats among the rows `where` keeps.
describe("dedupeRepeatProbe", () => {
  let instance: DuckDBInstance;
  const repeats = async (keys: string[], rows: string, where?: string): Promise<boolean> => {
    const con = await instance.connect();
    try {
      const probe = dedupeRepeatProbe({ keys }, where);
      const reader = await con.runAndReadAll(
        `SELECT ${probe.aggregates.join(", ")} FROM (VALUES ${rows}) AS t(a, b, flagged)`,
      );
      return probe.repeats(reader.getRowObjectsJson()[0]!);
    } finally {
      con.closeSync();
    }
  };
  beforeAll(async () => {
    instance = await DuckDBInstance.create(":memory:");
  });
  afterAll(() => instance.closeSync());

  it("sees a repeated key among the kept rows, and only there", async () => {
    expect(await repeats(["a"], "(1, 'x', false), (2, 'x', false), (3, 'x', false)")).toBe(false);
    expect(await repeats(["a"], "(1, 'x', false), (1, 'y', false)")).toBe(true);
    // The repeat is in a flagged row, which the dedupe never sees.
    expect(await repeats(["a"], "(1, 'x', false), (1, 'y', true), (2, 'z', false)", "NOT flagged")).toBe(
      false,
    );
    expect(await repeats(["a"], "(1, 'x', false), (1, 'y', false), (2, 'z', true)", "NOT flagged")).toBe(
      true,
    );
  });

  it("treats NULL keys as equal to each other", async () => {
    expect(await repeats(["a"], "(NULL, 'x', false), (1, 'y', false)")).toBe(false);
    expect(await repeats(["a"], "(NULL, 'x', false), (NULL, 'y', false)")).toBe(true);
    expect(await repeats(["a"], "(NULL, 'x', false), (NULL, 'y', true)", "NOT flagged")).toBe(false);
  });

  it("compares several keys together", async () => {
    expect(await repeats(["a", "b"], "(1, 'x', false), (1, 'y', false), (2, 'x', false)")).toBe(false);
    expect(await repeats(["a", "b"], "(1, 'x', false), (1, 'x', false)")).toBe(true);
    expect(await repeats(["a", "b"], "(1, NULL, false), (1, NULL, false)")).toBe(true);
    expect(await repeats(["a", "b"], "(1, 'x', false), (1, 'x', true)", "NOT flagged")).toBe(false);
  });
});
