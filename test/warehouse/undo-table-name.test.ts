import { describe, expect, it } from "vitest";
import { duckdbDialect } from "../../src/plan/duckdb-dialect.js";
import { postgresDialect } from "../../src/plan/postgres-dialect.js";
import { undoTableIdent, undoTableName } from "../../src/warehouse/undo-table-name.js";

const bytes = (s: string) => Buffer.byteLength(s, "utf8");

describe("undoTableIdent", () => {
  it("keeps the name undo tables always had when it fits in PostgreSQL's 63 bytes", () => {
    expect(undoTableIdent("orders", postgresDialect)).toBe("undo__public__orders");
    expect(undoTableIdent("sales.Order Items", postgresDialect)).toBe("undo__sales__Order Items");
    expect(undoTableName("sales.orders", postgresDialect)).toBe('sluice."undo__sales__orders"');
    const fits = "t".repeat(63 - "undo__public__".length);
    expect(undoTableIdent(fits, postgresDialect)).toBe(`undo__public__${fits}`);
  });

  it("gives two long names sharing their first 49 characters two different names within 63 bytes", () => {
    const base = "customer_orders_history_snapshot_daily_region_europe";
    const one = undoTableIdent(`${base}_one`, postgresDialect);
    const two = undoTableIdent(`${base}_two`, postgresDialect);
    expect(one).not.toBe(two);
    for (const name of [one, two]) {
      expect(bytes(name)).toBeLessThanOrEqual(63);
      expect(name).toMatch(/^undo__public__customer_orders_history_s.*__[0-9a-f]{12}$/);
    }
    // The schema is part of what the hash tells apart.
    expect(undoTableIdent(`a.${base}_one`, postgresDialect)).not.toBe(
      undoTableIdent(`b.${base}_one`, postgresDialect),
    );
    // Stable: the same target always has the same undo table.
    expect(undoTableIdent(`${base}_one`, postgresDialect)).toBe(one);
  });

  it("never splits a multi-byte character and leaves DuckDB names as they are", () => {
    const name = undoTableIdent(`${"ä".repeat(40)}`, postgresDialect);
    expect(bytes(name)).toBeLessThanOrEqual(63);
    expect(name).not.toContain("\ufffd");
    expect(Buffer.from(name, "utf8").toString("utf8")).toBe(name);
    const long = "x".repeat(80);
    expect(undoTableIdent(long, duckdbDialect)).toBe(`undo__main__${long}`);
  });
});
