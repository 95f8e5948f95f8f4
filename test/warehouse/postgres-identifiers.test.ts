import { existsSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadProject } from "../../src/project/load-config.js";
import { createProjectContext } from "../../src/run/project-context.js";
import { newRunId } from "../../src/run/run-id.js";
import { runProject } from "../../src/runner/run-project.js";
import { addFile, makeProject } from "../support/cli.js";
import { createTestDatabase, pgServer, pingPostgres } from "../support/postgres.js";
import { serviceAvailable } from "../support/require-service.js";

const available = await serviceAvailable(`PostgreSQL at ${pgServer}`, pingPostgres);

describe.skipIf(!available)("postgres warehouse: names near PostgreSQL's 63-byte identifier limit", () => {
  let db: Awaited<ReturnType<typeof createTestDatabase>>;
  const dirs: string[] = [];
  beforeAll(async () => {
    db = await createTestDatabase();
  });
  afterAll(async () => {
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
    await db?.cleanup();
  });
  const project = (yaml: string) => {
    const dir = makeProject(`warehouse: "${db.url}"\n${yaml}`);
    dirs.push(dir);
    return dir;
  };
  const context = async (dir: string) =>
    createProjectContext(await loadProject({ configPath: join(dir, "sluice.yaml") }));

  it("two long table names sharing their first 49 characters keep separate before-images", async () => {
    const base = "customer_orders_history_snapshot_daily_region_europe";
    const dir = project(`pipelines:
  one:
    source: { path: "in/one/*.csv" }
    target: { table: ${base}_one, mode: merge, keys: [id] }
  two:
    source: { path: "in/two/*.csv" }
    target: { table: ${base}_two, mode: merge, keys: [id] }
`);
    const run = async () => {
      const reports = await runProject(await context(dir));
      for (const r of reports) expect(r.error ?? r.status).toBe("succeeded");
      return reports;
    };
    // The same column holds a boolean in one table and a date in the other.
    addFile(dir, "landing/in/one/a.csv", "id,v\n1,true\n2,false\n");
    addFile(dir, "landing/in/two/a.csv", "id,v\n1,2026-01-01\n2,2026-01-02\n");
    const [firstOne, firstTwo] = await run();
    addFile(dir, "landing/in/one/b.csv", "id,v\n1,false\n3,true\n");
    addFile(dir, "landing/in/two/b.csv", "id,v\n1,2026-02-01\n3,2026-02-03\n");
    await run();
    addFile(dir, "landing/in/one/c.csv", "id,v\n2,true\n");
    addFile(dir, "landing/in/two/c.csv", "id,v\n2,2026-03-02\n");
    await run();
    const ctx = await context(dir);
    const w = await ctx.openWarehouse();
    try {
      const undo = await w.query(
        `SELECT relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE nspname = 'sluice' AND relname LIKE 'undo\\_\\_%' AND relkind = 'r' ORDER BY 1`,
      );
      expect(undo).toHaveLength(2);
      await w.rollback(`${base}_one`, firstOne!.run_id, newRunId(new Date()));
      await w.rollback(`${base}_two`, firstTwo!.run_id, newRunId(new Date()));
      const one = await w.query(`SELECT id, v FROM ${base}_one ORDER BY id`);
      const two = await w.query(`SELECT id, v::text AS v FROM ${base}_two ORDER BY id`);
      expect(one).toEqual([
        { id: 1, v: true },
        { id: 2, v: false },
      ]);
      expect(two).toEqual([
        { id: 1, v: "2026-01-01" },
        { id: 2, v: "2026-01-02" },
      ]);
    } finally {
      await w.close();
    }
  });

  it("a source column name PostgreSQL would cut short fails its file before anything is published, naming both", async () => {
    const long = `measurement_${"x".repeat(60)}`;
    const yaml = (columns: string) => `pipelines:
  p:
    source: { path: "in/*.csv" }${columns}
    target: { table: long_columns, mode: append }
`;
    const dir = project(yaml(""));
    addFile(dir, "landing/in/a.csv", `id,${long}\n1,x\n`);
    const [failed] = await runProject(await context(dir));
    expect(failed!.status).toBe("failed");
    expect(failed!.files[0]!.error).toBe(
      `in/a.csv: column "${long}" is 72 bytes long; the warehouse keeps at most 63 bytes of a name (a longer one is cut short): rename it at the source, or leave it out with columns: { "${long}": { mask: drop } }; nothing was published (the file stays in the landing zone)`,
    );
    expect(existsSync(join(dir, "landing/in/a.csv"))).toBe(true);
    const w = await (await context(dir)).openWarehouse({ readOnly: true });
    const exists = await w.query("SELECT to_regclass('long_columns') IS NOT NULL AS t");
    await w.close();
    expect(exists).toEqual([{ t: false }]);
    // The remedy the message names works, and the same file then loads.
    writeFileSync(
      join(dir, "sluice.yaml"),
      `warehouse: "${db.url}"\n${yaml(`\n    columns: { ${long}: { mask: drop } }`)}`,
    );
    const [loaded] = await runProject(await context(dir));
    expect(loaded!.error ?? loaded!.status).toBe("succeeded");
    const r = await (await context(dir)).openWarehouse({ readOnly: true });
    const rows = await r.query("SELECT * FROM long_columns");
    await r.close();
    expect(Object.keys(rows[0]!).filter((c) => !c.startsWith("_sluice"))).toEqual(["id"]);
  });
});
