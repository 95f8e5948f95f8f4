import { describe, expect, it } from "vitest";
import { mysqlExtractColumn, postgresExtractColumn } from "../../src/sources/type-map.js";
import { makeProject, sluice } from "../support/cli.js";

describe("database source configuration", () => {
  it("validate names a malformed URL and a query of several statements, never the password", async () => {
    const dir = makeProject(`pipelines:
  a:
    source: { database: "mysql://root:sekrit-9@127.0.0.1:33x6/shop", query: "select 1; select 2" }
    target: { table: a }
  b:
    source: { database: "postgres://app:sekrit-9@db:5x/shop", table: customers }
    target: { table: b }
`);
    const run = await sluice(["validate"], dir);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('pipelines.a.source.database: port "33x6" is not a number');
    expect(run.stderr).toContain("pipelines.a.source.query: holds several statements");
    expect(run.stderr).toContain('pipelines.b.source.database: port "5x" is not a number');
    expect(run.stdout + run.stderr).not.toContain("sekrit-9");
    const both = makeProject(`pipelines:
  c:
    source: { database: "mysql://root@127.0.0.1:3306/shop", table: orders, query: "select 1" }
    target: { table: c }
`);
    expect((await sluice(["validate"], both)).stderr).toContain(
      "pipelines.c.source: needs exactly one of `table` or `query`",
    );
  });

  it("maps types with their precision, and names a column it cannot carry", () => {
    const numeric = (p: number, s: number) => ((p << 16) | s) + 4;
    expect(
      postgresExtractColumn({ name: "n", dataTypeID: 1700, dataTypeModifier: numeric(12, 2) }, undefined),
    ).toMatchObject({ engineType: "DECIMAL(12,2)" });
    expect(
      postgresExtractColumn({ name: "w", dataTypeID: 1700, dataTypeModifier: numeric(50, 2) }, undefined),
    ).toMatchObject({ problem: expect.stringMatching(/column "w" has type numeric\(50,2\)/) });
    expect(
      postgresExtractColumn(
        { name: "m", dataTypeID: 99999, dataTypeModifier: -1 },
        { name: "mood", kind: "e" },
      ),
    ).toMatchObject({ engineType: "VARCHAR" });
    expect(
      postgresExtractColumn(
        { name: "p", dataTypeID: 600, dataTypeModifier: -1 },
        { name: "point", kind: "b" },
      ),
    ).toMatchObject({ problem: expect.stringContaining('column "p" has type point') });
    expect(
      mysqlExtractColumn({ name: "d", columnType: 246, flags: 0, columnLength: 22, decimals: 6 }),
    ).toMatchObject({ engineType: "DECIMAL(20,6)" });
    expect(mysqlExtractColumn({ name: "u", columnType: 8, flags: 32, decimals: 0 })).toMatchObject({
      engineType: "UBIGINT",
    });
    expect(mysqlExtractColumn({ name: "g", columnType: 255, flags: 0, decimals: 0 })).toMatchObject({
      problem: expect.stringContaining('column "g" has type GEOMETRY'),
    });
  });
});
