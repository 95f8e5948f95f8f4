import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { measureTableSize } from "../../src/catalog/table-sizes.js";
import type { Warehouse } from "../../src/warehouse/warehouse.js";
import { pingPostgres } from "../support/postgres.js";
import { openProjectWarehouse, type ProjectWarehouse } from "../support/project-warehouse.js";
import { serviceAvailable } from "../support/require-service.js";

const pgAvailable = await serviceAvailable("PostgreSQL", pingPostgres);

describe.each([
  ["duckdb", true],
  ["postgres", pgAvailable],
] as const)("measureTableSize on %s", (kind, available) => {
  let pw: ProjectWarehouse | undefined;
  let warehouse: Warehouse;

  beforeAll(async () => {
    if (!available) return;
    pw = await openProjectWarehouse(kind);
    warehouse = pw.warehouse;
    await pw.exec(
      kind === "postgres"
        ? "CREATE SCHEMA IF NOT EXISTS sales; CREATE TABLE sales.orders AS SELECT g AS id FROM generate_series(1, 2000) g; ANALYZE sales.orders"
        : "CREATE SCHEMA IF NOT EXISTS sales; CREATE TABLE sales.orders AS SELECT range AS id FROM range(2000); CHECKPOINT",
    );
  });
  afterAll(async () => {
    await pw?.close();
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
