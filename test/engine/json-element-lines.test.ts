import { DuckDBInstance } from "@duckdb/node-api";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { jsonArrayLayoutSql, jsonElementStartsSql, jsonStructureSql } from "../../src/plan/json-array-sql.js";
import { quoteLiteral } from "../../src/plan/sql-text.js";

let instance: DuckDBInstance;
let con: Awaited<ReturnType<DuckDBInstance["connect"]>>;

beforeAll(async () => {
  instance = await DuckDBInstance.create(":memory:");
  con = await instance.connect();
});
afterAll(() => {
  con.closeSync();
  instance.closeSync();
});

/** Lines of `text` into a table in file order, as the JSON reader stages them. */
async function linesOf(text: string): Promise<void> {
  await con.run("CREATE OR REPLACE TABLE l (line VARCHAR)");
  for (const line of text.split("\n")) await con.run(`INSERT INTO l VALUES (${quoteLiteral(line)})`);
}

async function starts(text: string): Promise<number[]> {
  await linesOf(text);
  await con.run(jsonStructureSql("l", "r"));
  await con.run(jsonElementStartsSql("r", "s"));
  const rows = (await con.runAndReadAll("SELECT line FROM s ORDER BY ordinal")).getRowObjectsJson();
  return rows.map((r) => Number(r.line));
}

async function layout(text: string): Promise<Record<string, unknown>> {
  await linesOf(text);
  await con.run(jsonStructureSql("l", "r"));
  return (await con.runAndReadAll(jsonArrayLayoutSql("r"))).getRowObjectsJson()[0]!;
}

describe("JSON array element lines", () => {
  it("finds the line each object starts on, whatever the layout", async () => {
    expect(await starts(JSON.stringify([{ a: 1 }, { a: 2 }], null, 2))).toEqual([2, 5]);
    expect(await starts('[{"a":1},{"a":2},{"a":3}]')).toEqual([1, 1, 1]);
    expect(await starts('[\n{"a": 1},\n\n{"a": 2}\n]')).toEqual([2, 4]);
    // Comma first, and two elements sharing a line.
    expect(await starts('[ {"a": 1}\n, {"a": 2}\n, {"a": 3}, {"a": 4}\n]')).toEqual([1, 2, 3, 3]);
    // The opening brace on the line after the comma; brackets inside strings and nested objects.
    expect(await starts('[\n  {"s": "[{,]}", "n": {"x": [1, {"y": 2}]}}\n  ,\n  {"s": "\\"]"}\n]')).toEqual([
      2, 4,
    ]);
    expect(await starts("[]")).toEqual([1]);
  });

  it("tells a closed array written one element per line from a truncated or spread one", async () => {
    const perLine = await layout('[\n{"a": 1},\n{"a": 2,, },\n{"a": 3}\n]');
    expect([perLine.opens, perLine.closes, perLine.line_per_element]).toEqual([true, true, true]);
    const cut = await layout('[\n{"a": 1},\n{"a": 2');
    expect([cut.closes, Number(cut.open_at_end)]).toEqual([false, 2]);
    const spread = await layout(JSON.stringify([{ a: 1 }, { a: 2 }], null, 2));
    expect([spread.closes, spread.line_per_element]).toEqual([true, false]);
  });
});
