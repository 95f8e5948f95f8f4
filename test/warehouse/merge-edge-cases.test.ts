import { join } from "node:path";
import { DuckDBInstance } from "@duckdb/node-api";
import { describe, expect, it } from "vitest";
import { loadProject } from "../../src/project/load-config.js";
import { createProjectContext } from "../../src/run/project-context.js";
import { newRunId } from "../../src/run/run-id.js";
import { runProject } from "../../src/runner/run-project.js";
import { addFile, makeProject } from "../support/cli.js";

const yaml = `warehouse: duckdb:warehouse.duckdb
landing: landing
pipelines:
  items:
    source: { path: "in/*.csv" }
    columns: { id: { type: bigint }, qty: { type: bigint } }
    target: { table: items, mode: merge, keys: [id] }
`;

async function sql(dir: string, text: string): Promise<unknown[][]> {
  const instance = await DuckDBInstance.create(join(dir, "warehouse.duckdb"));
  const con = await instance.connect();
  try {
    return (await con.runAndReadAll(text)).getRowsJson() as unknown[][];
  } finally {
    con.closeSync();
    instance.closeSync();
  }
}

async function run(dir: string) {
  const ctx = createProjectContext(await loadProject({ configPath: join(dir, "sluice.yaml") }));
  return (await runProject(ctx))[0]!;
}

describe("merge into DuckDB: what MERGE would leave, also on tables Sluice did not shape", () => {
  it("keeps columns the batch lacks, updates every copy of a duplicated key, and rolls back exactly", async () => {
    const dir = makeProject(yaml);
    addFile(dir, "landing/in/a.csv", "id,qty\n1,10\n2,20\n");
    const first = await run(dir);
    expect(first.status).toBe("succeeded");
    // By hand: a column the files do not carry, and key 2 twice (one copy already up to date).
    await sql(
      dir,
      `ALTER TABLE items ADD COLUMN note VARCHAR; UPDATE items SET note = 'n' || id;
       INSERT INTO items (id, qty, note) VALUES (2, 21, 'twin'), (2, 25, 'copy');`,
    );
    const before = await sql(dir, "SELECT id, qty, note, _sluice_run_id FROM items ORDER BY ALL");
    addFile(dir, "landing/in/b.csv", "id,qty\n1,11\n2,25\n3,30\n");
    const second = await run(dir);
    expect(second.status).toBe("succeeded");
    // key 1 changed (note kept), key 2: two copies changed, the copy already at 25 untouched; key 3 new.
    expect(second.load).toEqual({ table: "items", mode: "merge", inserted: 1, updated: 3, deleted: 0 });
    const after = await sql(dir, "SELECT id::INTEGER, qty::INTEGER, note FROM items ORDER BY ALL");
    expect(after).toEqual([
      [1, 11, "n1"],
      [2, 25, "copy"],
      [2, 25, "n2"],
      [2, 25, "twin"],
      [3, 30, null],
    ]);
    expect(second.reconciliation).toMatchObject({ ok: false, target_rows: 5, source_rows: 3 });
    const ctx = createProjectContext(await loadProject({ configPath: join(dir, "sluice.yaml") }));
    const warehouse = await ctx.openWarehouse({ readOnly: false });
    try {
      await warehouse.rollback("items", first.run_id, newRunId(new Date()));
    } finally {
      await warehouse.close();
    }
    expect(await sql(dir, "SELECT id, qty, note, _sluice_run_id FROM items ORDER BY ALL")).toEqual(before);
  });

  it("a key held twice by the table comes back twice when it changes", async () => {
    const dir = makeProject(yaml);
    addFile(dir, "landing/in/a.csv", "id,qty\n1,10\n");
    expect((await run(dir)).status).toBe("succeeded");
    await sql(dir, "INSERT INTO items SELECT * FROM items");
    addFile(dir, "landing/in/b.csv", "id,qty\n1,12\n");
    const second = await run(dir);
    expect(second.load).toMatchObject({ inserted: 0, updated: 2 });
    expect(await sql(dir, "SELECT id::INTEGER, qty::INTEGER FROM items ORDER BY ALL")).toEqual([
      [1, 12],
      [1, 12],
    ]);
  });

  it("copies of a key that differ: the changed one is rewritten, the equal one left; all equal: none", async () => {
    const dir = makeProject(yaml);
    addFile(dir, "landing/in/a.csv", "id,qty\n1,10\n2,20\n");
    expect((await run(dir)).status).toBe("succeeded");
    await sql(dir, "INSERT INTO items (id, qty) SELECT 1, 12 UNION ALL SELECT 2, 20");
    // Key 1: one copy changes (10 -> 12), one is equal already; key 2: both copies equal the batch.
    addFile(dir, "landing/in/b.csv", "id,qty\n1,12\n2,20\n");
    const second = await run(dir);
    expect(second.load).toMatchObject({ inserted: 0, updated: 1 });
    expect(await sql(dir, "SELECT id::INTEGER, qty::INTEGER FROM items ORDER BY ALL")).toEqual([
      [1, 12],
      [1, 12],
      [2, 20],
      [2, 20],
    ]);
  });
});

describe("merge into DuckDB writes only the columns that changed", () => {
  // 70 data columns: the change flags of a classification span two words (62 columns each).
  const width = 70;
  const names = Array.from({ length: width }, (_, i) => `c${i}`);
  const line = (id: number, values: readonly string[]) => [String(id), ...values].join(",");
  const first = [1, 2, 3, 4].map((id) => names.map((_, i) => `v${id}_${i}`));

  it("each row gets its own changes, a column equal in every row is kept, and rollback is exact", async () => {
    const dir = makeProject(
      `warehouse: duckdb:warehouse.duckdb\nlanding: landing\npipelines:\n  wide:\n    source: { path: "in/*.csv" }\n    target: { table: wide, mode: merge, keys: [id] }\n`,
    );
    const header = ["id", ...names].join(",");
    addFile(dir, "landing/in/a.csv", `${[header, ...first.map((v, i) => line(i + 1, v))].join("\n")}\n`);
    const loaded = await run(dir);
    expect(loaded.status).toBe("succeeded");
    const before = await sql(dir, "SELECT * FROM wide ORDER BY id");
    // Row 1 changes c1 (first word), row 2 c65 (second word), row 3 c3 and c64, row 4 nothing; row 5 is
    // new. c0 never changes.
    const second = first.map((v) => [...v]);
    second[0]![1] = "changed1";
    second[1]![65] = "changed65";
    second[2]![3] = "changed3";
    second[2]![64] = "changed64";
    const fresh = names.map((_, i) => `new_${i}`);
    const rows = [...second.map((v, i) => line(i + 1, v)), line(5, fresh)];
    addFile(dir, "landing/in/b.csv", `${[header, ...rows].join("\n")}\n`);
    const merged = await run(dir);
    expect(merged.status).toBe("succeeded");
    expect(merged.load).toEqual({ table: "wide", mode: "merge", inserted: 1, updated: 3, deleted: 0 });
    const after = await sql(
      dir,
      `SELECT id::INTEGER, ${names.join(", ")}, _sluice_run_id FROM wide ORDER BY id`,
    );
    const stamped = (id: number) => (id === 4 ? loaded.run_id : merged.run_id);
    expect(after).toEqual([...second, fresh].map((values, i) => [i + 1, ...values, stamped(i + 1)]));
    const ctx = createProjectContext(await loadProject({ configPath: join(dir, "sluice.yaml") }));
    const warehouse = await ctx.openWarehouse({ readOnly: false });
    try {
      await warehouse.rollback("wide", loaded.run_id, newRunId(new Date()));
    } finally {
      await warehouse.close();
    }
    expect(await sql(dir, "SELECT * FROM wide ORDER BY id")).toEqual(before);
  }, 120_000);
});
