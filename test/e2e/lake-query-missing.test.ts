import { describe, expect, it } from "vitest";
import { makeProject, sluice } from "../support/cli.js";

const project = `warehouse: duckdb:warehouse.duckdb
landing: landing
lake: lake
pipelines:
  events:
    source: { path: "in/events/*.csv" }
    target: { lake: { table: events } }
  later:
    source: { path: "in/later/*.csv" }
    target: { lake: { table: later, format: parquet } }
`;

type ErrorJson = { error: { code: string; message: string } };

describe("sluice query on a lake table that is not there", () => {
  it("says a declared lake table has nothing published yet, and names the known ones for an unknown one", async () => {
    const dir = makeProject(project, { "landing/in/events/a.csv": "id,v\n1,a\n2,b\n" });
    expect((await sluice(["run"], dir)).code).toBe(0);

    const unpublished = await sluice(["query", "select * from lake.later", "--json"], dir);
    expect(unpublished.code).toBe(1);
    expect(unpublished.json<ErrorJson>().error).toMatchObject({
      code: "LAKE_ERROR",
      message: "lake.later: nothing published to lake table later yet (run its pipeline first)",
    });

    const unknown = await sluice(["query", "select * from lake.nope"], dir);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain("lake.nope: no lake table nope in this project (known: events, later)");

    // A missing warehouse table keeps DuckDB's message; published lake tables read as before.
    const plain = await sluice(["query", "select * from nope"], dir);
    expect(plain.code).toBe(1);
    expect(plain.stderr).toContain("Table with name nope does not exist");
    const rows = await sluice(["query", "select count(*) as n from lake.events", "--json"], dir);
    expect(rows.json()).toEqual([{ n: 2 }]);
  });
});
