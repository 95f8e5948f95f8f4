import { DuckDBInstance } from "@duckdb/node-api";
import { describe, expect, it } from "vitest";
import { declaredColumnName } from "../../src/plan/declared-columns.js";
import {
  flattenStructure,
  maskJsonSql,
  masksBelow,
  nestedColumnName,
  pathsInside,
} from "../../src/plan/nested-json.js";

const structure = {
  id: "UBIGINT",
  Customer: { "Full Name": "VARCHAR", address: { city: "VARCHAR", geo: { lat: "DOUBLE" } } },
  items: [{ sku: "VARCHAR", discounts: [{ code: "VARCHAR" }] }],
  mixed: "JSON",
};

describe("nested JSON names", () => {
  it("flattens objects to parent__child names up to max_depth keys; arrays and mixed values are leaves", () => {
    expect(flattenStructure(structure, 3, "snake_case").map((l) => l.name)).toEqual([
      "id",
      "customer__full_name",
      "customer__address__city",
      "customer__address__geo",
      "items",
      "mixed",
    ]);
    expect(flattenStructure(structure, 1, "keep").map((l) => l.name)).toEqual([
      "id",
      "Customer",
      "items",
      "mixed",
    ]);
  });

  it("a columns: key names a nested path with dots or __, each segment normalized", () => {
    expect(nestedColumnName("Customer.Full Name", "snake_case")).toBe("customer__full_name");
    expect(nestedColumnName("customer__address__city", "snake_case")).toBe("customer__address__city");
    expect(declaredColumnName("Customer.Email", "snake_case", true)).toBe("customer__email");
    // Without nested flattening a dotted key is one name, as before.
    expect(declaredColumnName("Customer.Email", "snake_case")).toBe("customer_email");
  });

  it("lists the paths inside a JSON column, through arrays", () => {
    expect(pathsInside("items", structure.items, "snake_case")).toEqual([
      "items__sku",
      "items__discounts",
      "items__discounts__code",
    ]);
  });
});

describe("masks inside JSON values", () => {
  const run = async (sql: string): Promise<unknown> => {
    const db = await DuckDBInstance.create(":memory:");
    const con = await db.connect();
    try {
      await con.run("SET VARIABLE sluice_mask_salt = 's'");
      const rows = (await con.runAndReadAll(`SELECT (${sql})::VARCHAR AS v`)).getRowObjectsJson();
      return rows[0]?.v === null ? null : JSON.parse(String(rows[0]?.v));
    } finally {
      con.closeSync();
      db.closeSync();
    }
  };
  const salt = "getvariable('sluice_mask_salt')";

  it("masks a path through arrays and objects, leaving the rest as it was", async () => {
    const masks = masksBelow("items", {
      items__discounts__code: { mask: "redact" },
      items__sku: { mask: "null" },
    });
    const value = `'${JSON.stringify([
      { sku: "A", qty: 1, discounts: [{ code: "X", pct: 5 }, { code: null }] },
      { sku: "B", discounts: [] },
    ])}'::JSON`;
    expect(await run(maskJsonSql(value, structure.items, masks, salt, "snake_case"))).toEqual([
      { qty: 1, discounts: [{ code: "[REDACTED]", pct: 5 }, {}] },
      { discounts: [] },
    ]);
  });

  it("masks a leaf of a nested object in place, keeping its siblings; NULL stays NULL", async () => {
    const address = { city: "VARCHAR", street: "VARCHAR" };
    const masks = masksBelow("address", { address__city: { mask: "drop" } });
    expect(
      await run(maskJsonSql(`'{"city":"Oslo","street":"Main"}'::JSON`, address, masks, salt, "snake_case")),
    ).toEqual({ street: "Main" });
    expect(await run(maskJsonSql("NULL::JSON", address, masks, salt, "snake_case"))).toBeNull();
  });

  it("removes a value of varying shape at a masked path rather than leave it unmasked", async () => {
    const masks = masksBelow("mixed", { mixed__secret: { mask: "hash" } });
    expect(await run(maskJsonSql(`'{"secret":"s3"}'::JSON`, "JSON", masks, salt, "snake_case"))).toBeNull();
  });
});
