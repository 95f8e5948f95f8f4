import { describe, expect, it } from "vitest";
import { makeProject, type RunJson, sluice } from "../support/cli.js";

function project(sql: string): string {
  return makeProject(
    `warehouse: duckdb:warehouse.duckdb
landing: landing
pipelines:
  orders:
    source: { path: "in/*.csv" }
    target: { table: orders, mode: append }
  big:
    source:
      sql: |
${sql
  .split("\n")
  .map((l) => `        ${l}`)
  .join("\n")}
    depends_on: [orders]
    target: { table: big }
`,
    { "landing/in/a.csv": "id,amount\n1,10\n2,20\n3,30\n" },
  );
}

describe("source.sql", () => {
  it.each([
    ["a trailing -- comment", "select * from orders where amount > 15 -- the big ones"],
    ["a comment after the semicolon", "select * from orders where amount > 15; -- the big ones"],
    [
      "comments inside",
      "-- big orders\nselect * /* all columns */ from orders\nwhere amount > 15 -- over 15",
    ],
  ])("with %s runs", async (_name, sql) => {
    const dir = project(sql);
    expect((await sluice(["validate"], dir)).code).toBe(0);
    const run = await sluice(["run", "--json"], dir);
    expect(run.stderr).toBe("");
    const big = run.json<RunJson>().runs.find((r) => r.pipeline === "big")!;
    expect([big.status, big.rows.loaded]).toEqual(["succeeded", 2]);
  });

  it("holding several statements is a configuration error naming the key", async () => {
    const dir = project("select * from orders; delete from orders");
    const validate = await sluice(["validate"], dir);
    expect(validate.code).toBe(2);
    expect(validate.stderr).toContain(
      "pipelines.big.source.sql: holds several statements; write one query (a SELECT), without ';' inside",
    );
  });
});
