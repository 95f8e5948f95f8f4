import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { measureTableSize } from "../../src/catalog/table-sizes.js";
import { loadProject } from "../../src/project/load-config.js";
import { createProjectContext } from "../../src/run/project-context.js";
import type { Warehouse } from "../../src/warehouse/warehouse.js";
import { makeProject } from "../support/cli.js";
import { createTestDatabase, pingPostgres } from "../support/postgres.js";
import { serviceAvailable } from "../support/require-service.js";

const pgAvailable = await serviceAvailable("PostgreSQL", pingPostgres);

describe.each([
  ["duckdb", true],
  ["postgres", pgAvailable],
] as const)("measureTableSize on %s", (kind, available) => {
  let warehouse: Warehouse;
  let cleanup: (() => Promise<void>) | undefined;

  beforeAll(async () => {
    if (!available) return;
    let url = "duckdb:warehouse.duckdb";
    if (kind === "postgres") {
      const db = await createTestDatabase();
      url = db.url;
      cleanup = db.cleanup;
    }
    const dir = makeProject(
      `warehouse: ${url}\npipelines:\n  p:\n    source: { path: "in/*.csv" }\n    target: { table: t }\n`,
    );
    warehouse = await createProjectContext(await loadProject({ cwd: dir })).openWarehouse();
    const create =
      kind === "postgres"
        ? "CREATE SCHEMA IF NOT EXISTS sales; CREATE TABLE sales.orders AS SELECT g AS id FROM generate_series(1, 2000) g; ANALYZE sales.orders"
        : "CREATE SCHEMA IF NOT EXISTS sales; CREATE TABLE sales.orders AS SELECT range AS id FROM range(2000); CHECKPOINT";
    if (kind === "postgres") {
      for (const statement of create.split("; ")) await warehouse.query(statement);
    } else {
      await warehouse.engine.run(create);
    }
  });
  afterAll(async () => {
    await warehouse?.close();
    await cleanup?.();
  });

  it.skipIf(!available)("counts rows exactly and reads bytes from metadata", async () => {
    const size = await measureTableSize(warehouse, "sales.orders");
    expect(size.rows).toBe(2000);
    expect(size.estimated).toBeUndefined();
    expect(size.bytes).toBeGreaterThan(0);
  });

  it.skipIf(!available)(
    "a table the planner estimates above the limit records the estimate, marked (PostgreSQL)",
    async () => {
      const size = await measureTableSize(warehouse, "sales.orders", 100);
      if (kind === "postgres") {
        expect(size.estimated).toBe(true);
        expect(size.rows).toBeGreaterThan(1000);
        expect(size.rows).toBeLessThan(4000);
      } else {
        // DuckDB keeps no planner estimate: its count is exact whatever the size.
        expect(size).toMatchObject({ rows: 2000 });
        expect(size.estimated).toBeUndefined();
      }
    },
  );
});
