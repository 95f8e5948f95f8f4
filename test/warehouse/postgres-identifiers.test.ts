import { rmSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadProject } from "../../src/config/load-config.js";
import { createProjectContext } from "../../src/runner/project-context.js";
import { newRunId } from "../../src/runner/run-id.js";
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
});
