import { existsSync, rmSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { addFile, makeProject, type RunJson, sluice } from "../support/cli.js";

const project = `warehouse: duckdb:warehouse.duckdb
landing: landing
lake: lake
pipelines:
  ev:
    source: { path: "in/*.csv" }
    target: { table: ev, mode: merge, keys: [id], lake: { table: ev } }
`;

const rows = async (dir: string, table: string) =>
  (await sluice(["query", `select id, v from ${table} order by all`, "--json"], dir)).json();

describe("a batch the warehouse refuses for its keys, beside a lake target", () => {
  it("is refused before the lake commit, so retries never write its rows to the lake", async () => {
    const dir = makeProject(project);
    for (const [name, content, message] of [
      ["nulls.csv", "id,v\n1,a\n,n1\n", "1 row has a NULL key (id)"],
      ["twice.csv", "id,v\n2,a\n2,b\n", "1 key appears more than once in the batch for mode merge"],
    ] as const) {
      addFile(dir, `landing/in/${name}`, content);
      for (let attempt = 0; attempt < 2; attempt++) {
        const r = await sluice(["run", "--json"], dir);
        expect(r.code).toBe(1);
        expect(r.json<RunJson>().runs[0]?.files[0]?.error).toContain(message);
        expect(existsSync(join(dir, "lake/ev/_delta_log"))).toBe(false);
      }
      rmSync(join(dir, `landing/in/${name}`));
    }
    addFile(dir, "landing/in/good.csv", "id,v\n1,a\n2,b\n");
    expect((await sluice(["run"], dir)).code).toBe(0);
    addFile(dir, "landing/in/more.csv", "id,v\n2,c\n3,d\n");
    expect((await sluice(["run"], dir)).code).toBe(0);
    const expected = [
      { id: 1, v: "a" },
      { id: 2, v: "c" },
      { id: 3, v: "d" },
    ];
    expect(await rows(dir, "ev")).toEqual(expected);
    expect(await rows(dir, "lake.ev")).toEqual(expected);
  });
});

describe("a batch the warehouse refuses for its schema, beside a lake target", () => {
  it("is refused before the lake commit: the lake never holds rows the warehouse refused", async () => {
    const dir = makeProject(`warehouse: duckdb:warehouse.duckdb
landing: landing
lake: lake
pipelines:
  ev:
    schema_evolution: freeze
    source: { path: "in/*.csv" }
    target: { table: ev, mode: append, lake: { table: ev } }
`);
    addFile(dir, "landing/in/a.csv", "id,v\n1,10\n2,20\n");
    expect((await sluice(["run"], dir)).code).toBe(0);
    const before = [
      { id: 1, v: 10 },
      { id: 2, v: 20 },
    ];
    for (const [name, content, message] of [
      // freeze: a new column fails the run.
      ["extra.csv", "id,v,extra\n3,30,x\n", 'new column "extra"'],
      // A fraction for a BIGINT column holding data would narrow it (the lake alone would round it).
      ["fraction.csv", "id,v\n4,1.5\n", 'column "v"'],
    ] as const) {
      addFile(dir, `landing/in/${name}`, content);
      for (let attempt = 0; attempt < 2; attempt++) {
        const r = await sluice(["run", "--json"], dir);
        expect(r.code).toBe(1);
        expect(r.json<RunJson>().runs[0]?.files[0]?.error).toContain(message);
        expect(await rows(dir, "lake.ev")).toEqual(before);
        expect(await rows(dir, "ev")).toEqual(before);
      }
      rmSync(join(dir, `landing/in/${name}`), { force: true });
    }
  });
});

describe("change events the warehouse refuses, beside a lake target", () => {
  it("are refused before the lake commit: the lake's event log never holds them", async () => {
    const dir = makeProject(`warehouse: duckdb:warehouse.duckdb
landing: landing
lake: lake
pipelines:
  flat:
    source: { path: "in/*.csv" }
    target: { table: items, mode: cdc, keys: [id], cdc: { format: flat, op_column: op, order_by: seq }, lake: { table: items_events } }
`);
    const events = async () =>
      (
        await sluice(["query", "select op, seq, id from lake.items_events order by seq", "--json"], dir)
      ).json();
    addFile(dir, "landing/in/a.csv", "op,seq,id,name\nI,1,1,a\nI,2,2,b\n");
    expect((await sluice(["run"], dir)).code).toBe(0);
    const before = await events();
    expect(before).toHaveLength(2);
    addFile(dir, "landing/in/b.csv", "op,seq,id,name\nU,3,1,a2\nx,4,9,zz\n");
    for (let attempt = 0; attempt < 2; attempt++) {
      const r = await sluice(["run", "--json"], dir);
      expect(r.code).toBe(1);
      expect(r.json<RunJson>().runs[0]?.files[0]?.error).toContain("op that is none of");
      expect(await events()).toEqual(before);
    }
    // Fixed, the file loads once: into the table and as events into the lake.
    addFile(dir, "landing/in/b.csv", "op,seq,id,name\nU,3,1,a2\n");
    expect((await sluice(["run"], dir)).code).toBe(0);
    expect(await events()).toHaveLength(3);
    expect((await sluice(["query", "select id, name from items order by id", "--json"], dir)).json()).toEqual(
      [
        { id: 1, name: "a2" },
        { id: 2, name: "b" },
      ],
    );
  });
});
